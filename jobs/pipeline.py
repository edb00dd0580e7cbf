"""What the API needs from the processing pipeline: start ingest for a video."""

from __future__ import annotations

from typing import Protocol

from adapters.airflow_api import AirflowClient

INGEST_DAG = "ingest_video"


class Pipeline(Protocol):
    def trigger_ingest(self, video_id: str) -> str:
        """Start processing; the pipeline's run id. Raises PipelineUnavailable."""
        ...


class AirflowPipeline:
    def __init__(self, client: AirflowClient) -> None:
        self.client = client

    def trigger_ingest(self, video_id: str) -> str:
        return self.client.trigger(INGEST_DAG, {"video_id": video_id}, run_id_prefix=f"upload_{video_id}")
