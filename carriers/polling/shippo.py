"""Shippo tracking status: `GET /tracks/{carrier}/{tracking_number}`.

Auth is `Authorization: ShippoToken <key>`. The answer is a Track object (`tracking_status`,
`tracking_history`, `eta`), the same object a `track_updated` webhook carries under `data`: the
client wraps the exact response bytes in that envelope, so the Shippo webhook adapter parses polled
and pushed tracks alike. Nothing is registered at Shippo: a GET costs no tracker.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import requests

from carriers.adapters.base import carrier_slug
from carriers.models import TrackerPoll
from carriers.polling.base import PollClient, PollError, PollResult

# Our carrier slugs -> Shippo carrier tokens, where they differ (docs.goshippo.com tracking carriers).
CARRIER_TOKENS = {"dhl": "dhl_express", "canadapost": "canada_post"}


def carrier_token(carrier: str) -> str:
    slug = carrier_slug(carrier)
    return CARRIER_TOKENS.get(slug, slug)


class ShippoClient(PollClient):
    name = "shippo"

    api_key_setting = "CARRIER_SHIPPO_API_KEY"
    base_url_setting = "CARRIER_SHIPPO_API_BASE"

    def fetch(self, poll: TrackerPoll) -> PollResult:
        self.require_key()
        shipment = poll.shipment
        token = carrier_token(shipment.carrier)
        if token in ("", "shippo"):
            # GET /tracks needs the real carrier; a shipment registered as "shippo" does not name it.
            raise PollError("the shipment names no carrier Shippo can track", permanent=True)
        path = f"/tracks/{quote(token, safe='')}/{quote(shipment.tracking_number.strip(), safe='')}"
        response = self._get(path)
        try:
            track = json.loads(response.content)
        except ValueError:
            raise PollError("Shippo answered with something that is not JSON") from None
        if not isinstance(track, dict) or "tracking_number" not in track:
            raise PollError("Shippo answered with something that is not a Track")
        body = b'{"event": "track_updated", "data": ' + response.content + b"}"
        return PollResult(body=body, adapter="shippo", external_id="")

    def _get(self, path: str) -> requests.Response:
        try:
            response = requests.get(
                self.base_url + path,
                headers={"Authorization": f"ShippoToken {self.api_key}", "Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,  # the base URL is configured; a redirect is not Shippo answering
            )
        except requests.RequestException as exc:
            raise PollError(f"Shippo unreachable: {type(exc).__name__}") from None
        if response.status_code >= 300:
            # 401/403: our token; 404: unknown carrier token or number. 429 and 5xx may pass.
            permanent = response.status_code in (400, 401, 403, 404)
            raise PollError(f"Shippo {response.status_code}: {response.text[:200]}", permanent=permanent)
        return response
