"""The older HubSpot surface some clients still read (Singer's ``tap-hubspot`` among them): deals
v1 (``/deals/v1/deal/paged``, each property a ``{value, timestamp, source, versions}``), deal
properties v1 and pipelines v1, lists v3 search, the custom-object schemas (the portal has
none), and the products the emulator's private app has no scope for, answered 403
``MISSING_SCOPES`` as HubSpot answers a token without them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd_plugins.hubspot.emulator_properties import FIXED_OPTIONS, render_property
from syncd_plugins.hubspot.emulator_state import DEAL_STAGES, CrmObject, Portal, epoch_ms
from syncd_plugins.hubspot.emulator_writes import error, json_body

PORTAL_ID = 2_400_001  # the emulator's HubSpot account (hub) id
# the paths of HubSpot products the emulator's token holds no scope for, with the scope asked
UNSCOPED = (
    ("/companies/", "crm.objects.companies.read"),
    ("/crm/v3/objects/companies", "crm.objects.companies.read"),
    ("/crm/v3/properties/companies", "crm.objects.companies.read"),
    ("/crm/v3/associations/company", "crm.objects.companies.read"),
    ("/crm/v3/properties/tickets", "tickets"),
    ("/crm/v4/objects/tickets", "tickets"),
    ("/crm/v3/objects/tickets", "tickets"),
    ("/email/public/", "content"),
    ("/forms/", "forms"),
    ("/form-integrations/", "forms"),
    ("/automation/", "automation"),
    ("/engagements/", "sales-email-read"),
)
CLOSED_WON = {"closedwon": True, "closedlost": False}


def missing_scopes(scope: str) -> JSONResponse:
    return error(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def unscoped(path: str) -> str | None:
    """The scope a path of a product outside the token's scopes needs, or None."""
    return next((scope for prefix, scope in UNSCOPED if path.startswith(prefix)), None)


class PortalLegacy:
    """Routes of the older surface; mixed into the emulator."""

    portal: Portal
    clock: Callable[[], datetime]

    def v1_property(self, obj: CrmObject, name: str) -> dict[str, Any]:
        value = obj.properties[name]
        at = epoch_ms(obj.properties.get("hs_lastmodifieddate", "")) or 0
        if name == "createdate":
            at = epoch_ms(value) or at
            value = str(at)
        elif name in ("hs_lastmodifieddate", "closedate"):
            value = str(epoch_ms(value) or "")
        version = {"name": name, "value": value, "timestamp": at, "source": "API", "sourceVid": []}
        return {
            "value": value,
            "timestamp": at,
            "source": "API",
            "sourceId": None,
            "versions": [version],
        }

    def v1_deal(self, deal: CrmObject, names: list[str] | None, links: bool) -> dict[str, Any]:
        shown = [n for n in (names or deal.properties) if n in deal.properties]
        body: dict[str, Any] = {
            "portalId": PORTAL_ID,
            "dealId": int(deal.id),
            "isDeleted": False,
            "properties": {n: self.v1_property(deal, n) for n in shown},
            "imports": [],
            "stateChanges": [],
        }
        if links:
            body["associations"] = {
                "associatedVids": [int(c) for c in deal.contacts],
                "associatedCompanyIds": [],
                "associatedDealIds": [],
                "associatedTicketIds": [],
            }
        return body

    async def v1_deals(self, request: Request) -> Response:
        """``GET /deals/v1/deal/paged``: ``limit`` (at most 250), ``offset`` (the last deal id
        of the page before), ``properties`` (repeated) or ``includeAllProperties``."""
        q = request.query_params
        try:
            limit = min(int(q.get("limit", 100)), 250)
            offset = int(q.get("offset", 0))
        except ValueError:
            return error(400, "VALIDATION_ERROR", "limit and offset must be whole numbers")
        every = q.get("includeAllProperties", "false").lower() == "true"
        names = None if every else q.getlist("properties")
        links = q.get("includeAssociations", "false").lower() == "true"
        deals = sorted(self.portal.objects["deals"].values(), key=lambda d: int(d.id))
        after = [d for d in deals if int(d.id) > offset]
        page = after[:limit]
        return JSONResponse(
            {
                "deals": [self.v1_deal(d, names, links) for d in page],
                "hasMore": len(after) > limit,
                "offset": int(page[-1].id) if page else offset,
            }
        )

    async def v1_deal_properties(self, request: Request) -> Response:
        """``GET /properties/v1/deals/properties``: a bare list of property definitions."""
        names = sorted(self.portal.properties["deals"])
        return JSONResponse(
            [render_property("deals", n, None, self.portal.owners, self.portal.now) for n in names]
        )

    async def v1_pipelines(self, request: Request) -> Response:
        """``GET /deals/v1/pipelines``: the portal's one deal pipeline and its stages."""
        stages = [
            {
                "stageId": stage,
                "label": stage,
                "probability": 1.0
                if stage == "closedwon"
                else 0.0
                if stage == "closedlost"
                else 0.5,
                "active": True,
                "displayOrder": i,
                "closedWon": CLOSED_WON.get(stage, False),
            }
            for i, stage in enumerate(FIXED_OPTIONS[("deals", "dealstage")] or DEAL_STAGES)
        ]
        return JSONResponse(
            [
                {
                    "pipelineId": "default",
                    "label": "Sales Pipeline",
                    "displayOrder": 0,
                    "active": True,
                    "stages": stages,
                    "objectType": "DEAL",
                    "objectTypeId": "0-3",
                    "portalId": PORTAL_ID,
                }
            ]
        )

    async def custom_schemas(self, request: Request) -> Response:
        """``GET /crm/v3/schemas``: the portal's custom objects (none)."""
        return JSONResponse({"results": []})

    async def search_lists(self, request: Request) -> Response:
        """``POST /crm/v3/lists/search``: ``query`` (in the name), ``processingTypes``,
        ``listIds``, ``offset``/``count`` paging, answered as ``{lists, hasMore, offset,
        total}``; ``sort`` by ``HS_UPDATED_AT``, ``HS_CREATED_AT`` or ``HS_LIST_NAME`` (a
        leading ``-``: descending)."""
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            count = min(int(body.get("count", 20)), 500)
            offset = int(body.get("offset", 0))
        except (TypeError, ValueError):
            return error(400, "VALIDATION_ERROR", "count and offset must be whole numbers")
        found = list(self.portal.lists.values())
        if text := str(body.get("query") or "").strip().lower():
            found = [lst for lst in found if text in lst.name.lower()]
        if kinds := body.get("processingTypes"):
            found = [lst for lst in found if lst.processing in kinds]
        if ids := body.get("listIds"):
            found = [lst for lst in found if lst.id in {str(i) for i in ids}]
        sort = str(body.get("sort") or "HS_CREATED_AT")
        keys: dict[str, Callable[[Any], Any]] = {
            "HS_UPDATED_AT": lambda lst: (lst.updated, int(lst.id)),
            "HS_CREATED_AT": lambda lst: (lst.created, int(lst.id)),
            "HS_LIST_NAME": lambda lst: (lst.name.lower(), int(lst.id)),
        }
        key = keys.get(sort.lstrip("-"))
        if key is None:
            return error(400, "VALIDATION_ERROR", f"Unknown sort {sort}")
        found.sort(key=key, reverse=sort.startswith("-"))
        page = found[offset : offset + count]
        return JSONResponse(
            {
                "lists": [
                    {
                        **lst.render(),
                        "additionalProperties": {"hs_list_size": str(len(lst.members))},
                    }
                    for lst in page
                ],
                "hasMore": offset + count < len(found),
                "offset": offset + len(page),
                "total": len(found),
            }
        )
