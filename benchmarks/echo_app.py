"""The reference: a bare FastAPI app that parses the same JSON body and returns a constant card."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()
CARD = {
    "cards": [
        {
            "uuid": "6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10",
            "summary": "echo",
            "indicator": "info",
            "source": {"label": "echo"},
        }
    ]
}


@app.post("/cds-services/{service_id}")
async def echo(service_id: str, request: Request) -> dict[str, Any]:
    json.loads(await request.body())
    return CARD
