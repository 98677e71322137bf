"""The data sources the program reads, as terraform-provider-azuread 3.x reads them from Microsoft Graph.

Results use pulumi-azuread's camelCase names and carry the data source's ``id``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tests.fakes.azuread_provider.graph import GraphClient, GraphRequestError, ProviderError
from tests.fakes.azuread_provider.resources import escape, service_principal_outputs

# user_data_source.go selects these explicitly ("Users API changes which fields it sends by default").
USER_FIELDS = (
    "accountEnabled,ageGroup,businessPhones,city,companyName,consentProvidedForMinor,country,creationType,department,"
    "displayName,employeeHireDate,employeeId,employeeOrgData,employeeType,externalUserState,faxNumber,givenName,id,"
    "imAddresses,jobTitle,mail,mailNickname,mobilePhone,officeLocation,onPremisesDistinguishedName,"
    "onPremisesDomainName,onPremisesImmutableId,onPremisesSamAccountName,onPremisesSecurityIdentifier,"
    "onPremisesSyncEnabled,onPremisesUserPrincipalName,otherMails,postalCode,preferredLanguage,proxyAddresses,"
    "showInAddressList,state,streetAddress,surname,usageLocation,userPrincipalName,userType"
)
# groups.go groupGetAdditional
M365_GROUP_FIELDS = "allowExternalSenders,autoSubscribeNewMembers,hideFromAddressLists,hideFromOutlookClients"
# users_data_source.go
USERS_FIELDS = (
    "accountEnabled,displayName,employeeId,id,mail,mailNickname,onPremisesImmutableId,onPremisesSamAccountName,"
    "onPremisesUserPrincipalName,usageLocation,userPrincipalName,userType"
)


def _diag(summary: str, detail: object | None = None) -> ProviderError:
    return ProviderError(f"{summary}: {detail}" if detail else summary)


# internal/services/serviceprincipals/service_principal_data_source.go
async def get_service_principal(graph: GraphClient, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    found: dict[str, Any] | None = None
    if args.get("objectId"):
        object_id = str(args["objectId"])
        try:
            found = await graph.request("GET", f"/servicePrincipals/{object_id}", deadline=deadline)
        except GraphRequestError as exc:
            if exc.not_found:
                raise _diag(f"/servicePrincipals/{object_id} was not found") from None
            raise _diag(f"Retrieving /servicePrincipals/{object_id}", exc) from None
    elif args.get("displayName"):
        name = str(args["displayName"])
        query = f"displayName eq '{escape(name)}'"
        try:
            items = await graph.list("/servicePrincipals", deadline=deadline, params={"$filter": query})
        except GraphRequestError as exc:
            raise _diag(f"Listing service principals for filter {query!r}", exc) from None
        if not items:
            raise _diag("Service principal not found", f"no service principals found matching filter: {query!r}")
        if len(items) > 1:
            raise _diag(
                "Multiple service principals found", f"found multiple service principals matching filter: {query!r}"
            )
        found = next((sp for sp in items if str(sp.get("displayName", "")).lower() == name.lower()), None)
    else:
        client_id = str(args.get("clientId") or "")
        query = f"appId eq '{escape(client_id)}'"
        try:
            items = await graph.list("/servicePrincipals", deadline=deadline, params={"$filter": query})
        except GraphRequestError as exc:
            raise _diag(f"Listing service principals for filter {query!r}", exc) from None
        found = next((sp for sp in items if str(sp.get("appId", "")).lower() == client_id.lower()), None)
    if found is None:
        raise _diag("No service principal found", "no service principal found")
    object_id = str(found["id"])
    try:
        beta = await graph.request(
            "GET",
            f"/servicePrincipals/{object_id}",
            version="beta",
            deadline=deadline,
            params={"$select": "samlMetadataUrl"},
        )
    except GraphRequestError as exc:
        raise _diag(f"Retrieving /servicePrincipals/{object_id} (beta API)", exc) from None
    app_id = str(found.get("appId") or "")
    return {
        "id": f"/servicePrincipals/{object_id}",
        **service_principal_outputs(found),
        "samlMetadataUrl": beta.get("samlMetadataUrl") or "",
        "servicePrincipalNames": [n for n in found.get("servicePrincipalNames") or [] if n.lower() != app_id.lower()],
        "redirectUris": list(found.get("replyUrls") or []),
    }


# internal/services/users/user_data_source.go
async def get_user(graph: GraphClient, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    object_id: str | None = None
    for field, argument, what in (
        ("userPrincipalName", "userPrincipalName", "UPN"),
        ("mail", "mail", "mail"),
        ("mailNickname", "mailNickname", "email alias"),
        ("employeeId", "employeeId", "employee ID"),
    ):
        value = args.get(argument)
        if not value or (argument != "userPrincipalName" and args.get("objectId")):
            continue
        query = f"{field} eq '{escape(str(value))}'"
        try:
            items = await graph.list("/users", deadline=deadline, params={"$filter": query})
        except GraphRequestError as exc:
            raise _diag(f"Finding user with {what}: {value!r}", exc) from None
        if len(items) > 1:
            raise _diag(f"More than one user found with {what}: {value!r}")
        if not items:
            raise _diag(
                f"User with {what} {value!r} was not found"
                if what == "UPN"
                else f"User not found with {what}: {value!r}"
            )
        object_id = str(items[0]["id"])
        break
    if object_id is None:
        if not args.get("objectId"):
            raise _diag("One of `object_id`, `user_principal_name`, `mail_nickname` or `employee_id` must be supplied")
        wanted = str(args["objectId"])
        try:
            user = await graph.request("GET", f"/users/{wanted}", deadline=deadline)
        except GraphRequestError as exc:
            if exc.not_found:
                raise _diag(f"User not found with object ID: {wanted!r}") from None
            raise _diag(f"Retrieving user with object ID: {wanted!r}", exc) from None
        object_id = str(user["id"])
    try:
        user = await graph.request("GET", f"/users/{object_id}", deadline=deadline, params={"$select": USER_FIELDS})
    except GraphRequestError as exc:
        raise _diag(f"Retrieving /users/{object_id}", exc) from None
    manager_id = ""
    try:
        manager = await graph.request("GET", f"/users/{object_id}/manager", deadline=deadline)
        manager_id = str(manager.get("id") or "")
    except GraphRequestError as exc:
        if not exc.not_found:
            raise _diag(f"Could not retrieve manager for /users/{object_id}", exc) from None
    return {
        "id": f"/users/{object_id}",
        "objectId": object_id,
        "accountEnabled": bool(user.get("accountEnabled")),
        "displayName": user.get("displayName") or "",
        "mail": user.get("mail") or "",
        "mailNickname": user.get("mailNickname") or "",
        "userPrincipalName": user.get("userPrincipalName") or "",
        "userType": user.get("userType") or "",
        "employeeId": user.get("employeeId") or "",
        "managerId": manager_id,
        "otherMails": list(user.get("otherMails") or []),
        "proxyAddresses": list(user.get("proxyAddresses") or []),
        "businessPhones": list(user.get("businessPhones") or []),
        "imAddresses": list(user.get("imAddresses") or []),
    }


# internal/services/users/users_data_source.go
async def get_users(graph: GraphClient, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    ignore_missing = bool(args.get("ignoreMissing"))
    found: list[dict[str, Any]] = []
    expected = 0
    if args.get("returnAll"):
        found = await graph.list("/users", deadline=deadline, params={"$select": USERS_FIELDS})
        if not found:
            raise _diag("No users found")
    elif args.get("userPrincipalNames"):
        names = [str(n) for n in args["userPrincipalNames"]]
        expected = len(names)
        for name in names:
            items = await graph.list(
                "/users",
                deadline=deadline,
                params={"$filter": f"userPrincipalName eq '{escape(name)}'", "$select": USERS_FIELDS},
            )
            if len(items) > 1:
                raise _diag(f"More than one user found with UPN: {name!r}")
            if not items:
                if ignore_missing:
                    continue
                raise _diag(f"User with UPN {name!r} was not found")
            found.append(items[0])
    elif args.get("objectIds"):
        ids = [str(i) for i in args["objectIds"]]
        expected = len(ids)
        for object_id in ids:
            try:
                found.append(
                    await graph.request(
                        "GET", f"/users/{object_id}", deadline=deadline, params={"$select": USERS_FIELDS}
                    )
                )
            except GraphRequestError as exc:
                if exc.not_found:
                    if ignore_missing:
                        continue
                    raise _diag(f"User not found with object ID: {object_id!r}") from None
                raise _diag(f"Retrieving user with object ID: {object_id!r}", exc) from None
    else:
        raise ProviderError("the test provider's getUsers serves objectIds, userPrincipalNames and returnAll only")
    if not args.get("returnAll") and not ignore_missing and len(found) < expected:
        raise _diag("Unexpected number of users returned", f"expected at least: {expected}, actual: {len(found)}")
    upns = [str(u.get("userPrincipalName") or "") for u in found]
    digest = base64.urlsafe_b64encode(hashlib.sha1("/".join(upns).encode()).digest()).decode()
    return {
        "id": f"users#{digest}",
        "objectIds": [str(u["id"]) for u in found],
        "userPrincipalNames": upns,
        "mails": [str(u.get("mail") or "") for u in found],
        "mailNicknames": [str(u.get("mailNickname") or "") for u in found],
        "employeeIds": [str(u.get("employeeId") or "") for u in found],
        "ignoreMissing": ignore_missing,
        "returnAll": bool(args.get("returnAll")),
        "users": [
            {
                "accountEnabled": bool(u.get("accountEnabled")),
                "displayName": u.get("displayName") or "",
                "employeeId": u.get("employeeId") or "",
                "mail": u.get("mail") or "",
                "mailNickname": u.get("mailNickname") or "",
                "objectId": str(u["id"]),
                "onpremisesImmutableId": u.get("onPremisesImmutableId") or "",
                "onpremisesSamAccountName": u.get("onPremisesSamAccountName") or "",
                "onpremisesUserPrincipalName": u.get("onPremisesUserPrincipalName") or "",
                "usageLocation": u.get("usageLocation") or "",
                "userPrincipalName": u.get("userPrincipalName") or "",
            }
            for u in found
        ],
    }


# internal/services/groups/group_data_source.go (beta API throughout)
async def get_group(graph: GraphClient, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    group: dict[str, Any] | None = None
    if args.get("displayName"):
        # The display name goes into the filter as written: not quote-escaped, unlike the other data sources.
        query = f"displayName eq '{args['displayName']}'"
        for flag in ("mailEnabled", "securityEnabled"):
            if args.get(flag) is not None:
                query += f" and {flag} eq {str(bool(args[flag])).lower()}"
        try:
            items = await graph.list("/groups", version="beta", deadline=deadline, params={"$filter": query})
        except GraphRequestError as exc:
            if exc.not_found:
                raise _diag(f"No group found matching specified filter ({query})", exc) from None
            raise _diag(f"Retrieving groups for filter ({query})", exc) from None
        if len(items) > 1:
            raise _diag(f"More than one group found matching specified filter ({query})")
        if not items:
            raise _diag(f"No group found matching specified filter ({query})")
        group = items[0]
    elif args.get("objectId"):
        object_id = str(args["objectId"])
        try:
            group = await graph.request("GET", f"/groups/{object_id}", version="beta", deadline=deadline)
        except GraphRequestError as exc:
            if exc.not_found:
                raise _diag(f"No group found with object ID: {object_id!r}") from None
            raise _diag(f"Retrieving group with object ID: {object_id!r}", exc) from None
    else:
        raise ProviderError("the test provider's getGroup serves displayName and objectId only")
    object_id = str(group["id"])
    extra: dict[str, Any] = {}
    if "Unified" in (group.get("groupTypes") or []):
        # groupGetAdditional (groups.go): Microsoft 365 group settings; a 404 means "not an M365 tenant".
        try:
            extra = await graph.request(
                "GET",
                f"/groups/{object_id}",
                version="beta",
                deadline=deadline,
                params={"$select": M365_GROUP_FIELDS},
            )
        except GraphRequestError as exc:
            if not exc.not_found:
                raise _diag(f"Could not retrieve group with object ID {object_id!r}", exc) from None
    relation = "transitiveMembers" if args.get("includeTransitiveMembers") else "members"
    try:
        members = await graph.list(f"/groups/{object_id}/{relation}", version="beta", deadline=deadline)
    except GraphRequestError as exc:
        word = "transitive group members" if relation == "transitiveMembers" else "group members"
        raise _diag(f"Could not retrieve {word} for group with object ID: {object_id!r}", exc) from None
    try:
        owners = await graph.list(f"/groups/{object_id}/owners", version="beta", deadline=deadline)
    except GraphRequestError as exc:
        raise _diag(f"Could not retrieve group owners for group with object ID: {object_id!r}", exc) from None
    return {
        "id": f"/groups/{object_id}",
        "objectId": object_id,
        "displayName": group.get("displayName") or "",
        "description": group.get("description") or "",
        "mail": group.get("mail") or "",
        "mailEnabled": bool(group.get("mailEnabled")),
        "mailNickname": group.get("mailNickname") or "",
        "securityEnabled": bool(group.get("securityEnabled")),
        "types": list(group.get("groupTypes") or []),
        "members": [str(m.get("id")) for m in members],
        "owners": [str(o.get("id")) for o in owners],
        "includeTransitiveMembers": bool(args.get("includeTransitiveMembers")),
        "externalSendersAllowed": bool(extra.get("allowExternalSenders")),
        "autoSubscribeNewMembers": bool(extra.get("autoSubscribeNewMembers")),
        "hideFromAddressLists": bool(extra.get("hideFromAddressLists")),
        "hideFromOutlookClients": bool(extra.get("hideFromOutlookClients")),
    }


# internal/services/serviceprincipals/client_config_data_source.go: straight from the token's claims.
async def get_client_config(graph: GraphClient, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    tenant_id = str(graph.claims.get("tid") or "")
    client_id = str(graph.claims.get("appid") or graph.claims.get("azp") or "")
    object_id = graph.caller_object_id
    return {
        "id": f"{tenant_id}-{client_id}-{object_id}",
        "clientId": client_id,
        "objectId": object_id,
        "tenantId": tenant_id,
    }


DATA_SOURCES = {
    "azuread:index/getServicePrincipal:getServicePrincipal": get_service_principal,
    "azuread:index/getUser:getUser": get_user,
    "azuread:index/getUsers:getUsers": get_users,
    "azuread:index/getGroup:getGroup": get_group,
    "azuread:index/getClientConfig:getClientConfig": get_client_config,
}
