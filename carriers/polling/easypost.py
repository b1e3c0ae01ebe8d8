"""EasyPost trackers: `GET /v2/trackers/{id}` (creating the tracker once with `POST /v2/trackers`).

Auth is HTTP Basic with the API key as the user name. The response is a Tracker object, which
the EasyPost webhook adapter already parses: polled events take the same path as pushed ones.
"""

from __future__ import annotations

import json

import requests

from carriers.models import TrackerPoll
from carriers.polling.base import PollClient, PollError, PollResult


class EasyPostClient(PollClient):
    name = "easypost"

    api_key_setting = "CARRIER_EASYPOST_API_KEY"
    base_url_setting = "CARRIER_EASYPOST_API_BASE"

    def fetch(self, poll: TrackerPoll) -> PollResult:
        self.require_key()
        if poll.external_id:
            response = self._call("GET", f"/v2/trackers/{poll.external_id}")
        else:
            shipment = poll.shipment
            payload = {"tracker": {"tracking_code": shipment.tracking_number, "carrier": shipment.carrier}}
            response = self._call("POST", "/v2/trackers", json=payload)
        try:
            tracker_id = json.loads(response.content).get("id", "")
        except (ValueError, AttributeError):
            raise PollError("EasyPost answered with something that is not a Tracker") from None
        return PollResult(body=response.content, adapter="easypost", external_id=tracker_id)

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            response = requests.request(
                method, self.base_url + path, auth=(self.api_key, ""), timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise PollError(f"EasyPost unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            # 404: no such tracker; 401/403: our key. Retrying will not help; 429 and 5xx will.
            permanent = response.status_code in (400, 401, 403, 404, 422)
            raise PollError(f"EasyPost {response.status_code}: {response.text[:200]}", permanent=permanent)
        return response
