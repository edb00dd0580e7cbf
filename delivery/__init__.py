"""Moving bytes to viewers: the origin store client, publishing, and the HLS player over HTTP/3."""
