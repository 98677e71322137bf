"""The tenant file's JSON Schema, generated from the pydantic model so it cannot drift from it."""

from __future__ import annotations

from typing import Any

from taxcalc_consent.infra.model.catalog import graph_catalog
from taxcalc_consent.infra.model.consent_settings import LEAVE_AS_IS
from taxcalc_consent.infra.model.spec import TenantSpec

SCHEMA_ID = "https://taxcalc-consent.invalid/schema/tenant.schema.json"


def tenant_file_schema() -> dict[str, Any]:
    schema = TenantSpec.model_json_schema(by_alias=True, mode="validation")
    schema["$id"] = SCHEMA_ID
    catalog = graph_catalog()
    defs = schema.setdefault("$defs", {})
    # Editors complete scope and role names from the catalog; the loader still says did-you-mean.
    defs["ConsentSection"]["properties"]["scopes"]["anyOf"][0]["items"] = {"enum": sorted(catalog.delegated)}
    defs["ConsentSection"]["properties"]["app_roles"]["items"] = {"enum": sorted(catalog.application)}
    # leave-as-is is read as "no workflow mapping" before the model sees it; editors should offer it too.
    workflow = defs["ConsentSettingsSection"]["properties"]["admin_consent_workflow"]
    workflow["anyOf"].insert(1, {"const": LEAVE_AS_IS})
    return schema
