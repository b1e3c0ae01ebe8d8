"""Which time zone a carrier's offset-less local time is in, from the scan's country and state.

UPS (and AfterShip checkpoints) report local wall-clock time without an offset. A state's main
zone is right for nearly every scan; where we cannot tell, CARRIER_DEFAULT_LOCAL_TIME_ZONE applies.
"""

from __future__ import annotations

from django.conf import settings

_E, _C, _M, _P = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
US_STATES = {
    **dict.fromkeys(
        [
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "IN",
            "KY",
            "ME",
            "MD",
            "MA",
            "MI",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ],
        _E,
    ),
    **dict.fromkeys(
        ["AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK", "SD", "TN", "TX", "WI"], _C
    ),
    **dict.fromkeys(["CO", "MT", "NM", "UT", "WY", "ID"], _M),
    **dict.fromkeys(["CA", "NV", "OR", "WA"], _P),
    "AZ": "America/Phoenix",
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
}
# Countries with one zone (alpha-2 and alpha-3).
SINGLE_ZONE = {
    "GB": "Europe/London",
    "GBR": "Europe/London",
    "DE": "Europe/Berlin",
    "DEU": "Europe/Berlin",
    "FR": "Europe/Paris",
    "FRA": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "NLD": "Europe/Amsterdam",
    "IE": "Europe/Dublin",
    "IRL": "Europe/Dublin",
    "IT": "Europe/Rome",
    "ITA": "Europe/Rome",
    "ES": "Europe/Madrid",
    "ESP": "Europe/Madrid",
    "JP": "Asia/Tokyo",
    "JPN": "Asia/Tokyo",
    "CN": "Asia/Shanghai",
    "CHN": "Asia/Shanghai",
    "IN": "Asia/Kolkata",
    "IND": "Asia/Kolkata",
}


def local_zone(*, country: str = "", region: str = "") -> str:
    country = (country or "").strip().upper()
    region = (region or "").strip().upper()
    if country in ("US", "USA") and region in US_STATES:
        return US_STATES[region]
    return SINGLE_ZONE.get(country, settings.CARRIER_DEFAULT_LOCAL_TIME_ZONE)
