"""Pure media operations over paths and bytes: probe, ladder planning, transcoding, HLS packaging.

Nothing here imports Airflow, HTTP frameworks or the settings object; callers pass plain values.
"""
