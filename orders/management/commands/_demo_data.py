"""The demo world that `manage.py seed_demo` plays: brands, customers, products and one story per order.

Static data only; the command turns each Story into service calls (see seed_demo.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

D = Decimal

BRANDS: dict[str, dict] = {
    "northwind": {
        "name": "Northwind Outfitters",
        "order_prefix": "NWO",
        "primary_colour": "#0f3d2e",
        "accent_colour": "#e07a1f",
        "support_email": "help@northwind.example",
        "support_phone": "+14155550199",
        "support_url": "https://northwind.example/help",
        "email_from_name": "Northwind Outfitters",
        "email_from_address": "orders@northwind.example",
        "sms_sender": "Northwind",
        "whatsapp_sender": "+14155550199",
        "default_locale": "en",
        "default_time_zone": "America/Los_Angeles",
        "banner_text": "Winter storms in the Midwest may add 1–2 days to deliveries this week.",
        "banner_url": "https://northwind.example/shipping-updates",
    },
    "kiln-clay": {
        "name": "Kiln & Clay",
        "order_prefix": "KLN",
        "primary_colour": "#7c2d12",
        "accent_colour": "#f59e0b",
        "support_email": "hello@kilnandclay.example",
        "support_phone": "+442079460000",
        "support_url": "https://kilnandclay.example/contact",
        "email_from_name": "Kiln & Clay Studio",
        "email_from_address": "studio@kilnandclay.example",
        "sms_sender": "KilnClay",
        "default_locale": "en-GB",
        "default_time_zone": "Europe/London",
    },
    "blauer-hafen": {
        "name": "Blauer Hafen Kaffee",
        "order_prefix": "BHF",
        "primary_colour": "#1e3a8a",
        "accent_colour": "#38bdf8",
        "support_email": "service@blauer-hafen.example",
        "support_phone": "+4940300510",
        "support_url": "https://blauer-hafen.example/hilfe",
        "email_from_name": "Blauer Hafen",
        "email_from_address": "bestellung@blauer-hafen.example",
        "whatsapp_sender": "+4915123450000",
        "default_locale": "de",
        "default_time_zone": "Europe/Berlin",
    },
}

# Where parcels start and the hub they pass through: (city, region, country).
ROUTES = {
    "default": (("Newark", "NJ", "US"), ("Memphis", "TN", "US")),
    "northwind": (("Reno", "NV", "US"), ("Louisville", "KY", "US")),
    "kiln-clay": (("Stoke-on-Trent", "Staffordshire", "GB"), ("Daventry", "Northamptonshire", "GB")),
    "blauer-hafen": (("Hamburg", "HH", "DE"), ("Leipzig", "SN", "DE")),
}
ROUTES_CARRIER = {"default": "fedex", "northwind": "ups", "kiln-clay": "royalmail", "blauer-hafen": "dhl"}

# name, email, phone (E.164), locale, time zone, (line1, city, region, postcode, country, lat, lon)
CUSTOMERS = [
    ("Maya Thompson", "maya.thompson@example.com", "+14155550123", "en-US", "America/Los_Angeles",
     ("2145 Mission St", "San Francisco", "CA", "94110", "US", "37.759900", "-122.414800")),
    ("Jamal Carter", "jamal.carter@example.com", "+12125550147", "en-US", "America/New_York",
     ("88 Atlantic Ave", "Brooklyn", "NY", "11201", "US", "40.690500", "-73.996200")),
    ("Sofía Martínez", "sofia.martinez@example.com", "+13105550188", "es", "America/Los_Angeles",
     ("410 N Broadway", "Los Angeles", "CA", "90012", "US", "34.056000", "-118.238600")),
    ("Ethan Roy", "ethan.roy@example.ca", "+14165550111", "en-CA", "America/Toronto",
     ("301 Front St W", "Toronto", "ON", "M5V 2T6", "CA", "43.642600", "-79.387100")),
    ("Priya Shah", "priya.shah@example.co.uk", "+442079460958", "en-GB", "Europe/London",
     ("14 Brick Lane", "London", "", "E1 6RF", "GB", "51.520300", "-0.072200")),
    ("Oliver Bennett", "oliver.bennett@example.co.uk", "+441614960123", "en-GB", "Europe/London",
     ("7 Oldham St", "Manchester", "", "M1 1JQ", "GB", "53.482600", "-2.235400")),
    ("Chloé Dubois", "chloe.dubois@example.fr", "+33612345678", "fr", "Europe/Paris",
     ("23 Rue Oberkampf", "Paris", "", "75011", "FR", "48.865200", "2.372400")),
    ("Harper Wilson", "harper.wilson@example.com.au", "+61412345678", "en-AU", "Australia/Sydney",
     ("45 Crown St", "Surry Hills", "NSW", "2010", "AU", "-33.883200", "151.214800")),
    ("Lukas Becker", "lukas.becker@example.de", "+4915123456789", "de", "Europe/Berlin",
     ("Torstraße 110", "Berlin", "BE", "10119", "DE", "52.529500", "13.401200")),
    ("Anna Schmidt", "anna.schmidt@example.de", "+4989123456", "de", "Europe/Berlin",
     ("Sendlinger Str. 12", "München", "BY", "80331", "DE", "48.135100", "11.570100")),
    ("Daan de Vries", "daan.devries@example.nl", "+31201234567", "nl", "Europe/Amsterdam",
     ("Prinsengracht 263", "Amsterdam", "NH", "1016 GV", "NL", "52.375200", "4.884000")),
    ("Kenji Sato", "kenji.sato@example.jp", "+819012345678", "ja", "Asia/Tokyo",
     ("1-9-1 Marunouchi", "Chiyoda-ku", "Tokyo", "100-0005", "JP", "35.681200", "139.767100")),
]  # fmt: skip

PRODUCTS = {
    "NW-TENT-2P": ("Ridgeline 2-person tent", D("289.00")),
    "NW-BAG-20F": ("Cirrus 20°F sleeping bag", D("179.00")),
    "NW-LAMP": ("Lumen rechargeable headlamp", D("39.50")),
    "NW-BOTTLE": ("Trail bottle 1 L", D("24.00")),
    "NW-JACKET-M": ("Alder rain jacket, M", D("149.00")),
    "KC-MUG-SAGE": ("Sage glaze mug", D("18.00")),
    "KC-BOWLS-4": ("Stoneware bowls, set of 4", D("64.00")),
    "KC-VASE": ("Tall speckled vase", D("85.00")),
    "KC-PLATE": ("Dinner plate, oatmeal", D("22.00")),
    "BH-ESPRESSO": ("Hafenmischung Espresso 1 kg", D("24.90")),
    "BH-FILTER": ("Elbe Filterkaffee 500 g", D("12.50")),
    "BH-GRINDER": ("Handmühle Edelstahl", D("79.00")),
    "GEN-KIT": ("Starter kit", D("48.00")),
    "GEN-REFILL": ("Refill pack", D("12.00")),
}

CURRENCY = {"default": "USD", "northwind": "USD", "kiln-clay": "GBP", "blauer-hafen": "EUR"}
SOURCE_ACCOUNT = {"shopify": "northwind.myshopify.com", "woocommerce": "shop.blauer-hafen.example"}

# Wording and vendor codes a carrier might send for each canonical status.
SCAN_TEXT = {
    "info_received": ("MP", "Shipment information received"),
    "in_transit": ("IT", "Departed facility"),
    "out_for_delivery": ("OD", "Out for delivery"),
    "available_for_pickup": ("PU", "Ready for collection at a pickup point"),
    "attempt_failed": ("DE", "Delivery attempted: recipient not available"),
    "delayed": ("DY", "Running late"),
    "exception": ("EX", "Shipment exception"),
    "delivered": ("DL", "Delivered"),
    "returned_to_sender": ("RS", "Returned to sender"),
    "unknown": ("ZZ", "Package data processed"),
}


@dataclass(frozen=True)
class Story:
    ref: str  # the order's external id: the key that makes re-runs idempotent
    brand: str
    customer: int
    source: str
    hours_ago: float  # when the order was placed
    lines: tuple[tuple[str, int], ...]
    plot: str  # name of the _Tale method that plays the rest


STORIES = [
    Story("DEMO-1001", "northwind", 0, "shopify", 0.4, (("NW-LAMP", 2),), "pending"),
    Story("DEMO-1002", "blauer-hafen", 9, "woocommerce", 1.5, (("BH-FILTER", 4),), "pending"),
    Story("DEMO-1003", "kiln-clay", 4, "api", 3, (("KC-MUG-SAGE", 2), ("KC-PLATE", 4)), "confirmed"),
    Story("DEMO-1004", "northwind", 1, "shopify", 7, (("NW-BAG-20F", 1),), "processing"),
    Story("DEMO-1005", "blauer-hafen", 8, "woocommerce", 9, (("BH-GRINDER", 1),), "held_and_released"),
    Story("DEMO-1006", "northwind", 3, "shopify", 20, (("NW-LAMP", 6),), "on_hold"),
    Story("DEMO-1007", "northwind", 2, "shopify", 5, (("NW-BOTTLE", 2),), "cancelled_by_customer"),
    Story("DEMO-1008", "blauer-hafen", 10, "woocommerce", 30, (("BH-ESPRESSO", 2),), "cancelled_after_label"),
    Story("DEMO-1009", "kiln-clay", 5, "api", 60, (("KC-BOWLS-4", 1), ("KC-VASE", 1), ("KC-PLATE", 2)), "partial"),
    Story("DEMO-1010", "blauer-hafen", 8, "woocommerce", 26, (("BH-ESPRESSO", 1),), "dispatched"),
    Story("DEMO-1011", "northwind", 0, "shopify", 54, (("NW-TENT-2P", 1),), "in_transit"),
    Story("DEMO-1012", "default", 11, "api", 50, (("GEN-KIT", 2),), "carrier_dispatches"),
    Story("DEMO-1013", "kiln-clay", 4, "api", 80, (("KC-VASE", 1), ("KC-BOWLS-4", 1)), "split_in_transit"),
    Story("DEMO-1014", "northwind", 1, "shopify", 70, (("NW-JACKET-M", 1),), "out_for_delivery"),
    Story("DEMO-1015", "blauer-hafen", 9, "woocommerce", 75, (("BH-GRINDER", 1),), "pickup"),
    Story("DEMO-1016", "northwind", 3, "shopify", 96, (("NW-TENT-2P", 1),), "delayed"),
    Story("DEMO-1017", "kiln-clay", 7, "api", 150, (("KC-MUG-SAGE", 4),), "customs"),
    Story("DEMO-1018", "blauer-hafen", 10, "woocommerce", 80, (("BH-FILTER", 2),), "attempt_failed"),
    Story("DEMO-1019", "northwind", 2, "shopify", 110, (("NW-BAG-20F", 1), ("NW-LAMP", 1)), "delivered"),
    Story("DEMO-1020", "kiln-clay", 6, "api", 190, (("KC-VASE", 1), ("KC-PLATE", 6)), "split_delivered"),
    Story("DEMO-1021", "northwind", 0, "shopify", 100, (("NW-BOTTLE", 3),), "collected_at_depot"),
    Story("DEMO-1022", "blauer-hafen", 9, "woocommerce", 24 * 21, (("BH-ESPRESSO", 3),), "completed"),
    Story("DEMO-1023", "default", 11, "api", 24 * 32, (("GEN-REFILL", 5),), "completed"),
    Story("DEMO-1024", "kiln-clay", 5, "api", 24 * 9, (("KC-BOWLS-4", 2),), "returned"),
]

TRACKING_FORMATS = {
    "ups": "1Z5R89{n:04d}03{k:02d}{n:06d}",
    "fedex": "79{n:04d}{k:02d}1187",
    "usps": "9400111{n:08d}{k:02d}30012",
    "dhl": "35{n:04d}{k:02d}91",
    "royalmail": "RM{n:07d}{k:02d}GB",
    "easypost": "EZ{n:04d}{k:02d}00001",
}
