# quickstart.rego - examples/quickstart/policies/*.cedar in Rego (OPA v1 syntax), for the
# peer comparison in bench/compare (see ../README.md).
#
# Data (written by `peers opa-data` from entities.json and template-links.json):
#   data.quickstart.entities["Type::id"] = {"attrs": {...}, "ancestors": ["Type::id", ...]}
#     attrs keep Cedar's values, an entity reference becoming its "Type::id" string;
#     ancestors is the transitive closure of parents (Cedar's `in`).
#   data.quickstart.shares = [{"id": link id, "principal": uid, "resource": uid}]
#     one entry per link of the share-view template.
# Input: {"principal": uid, "action": uid, "resource": uid, "context": {...},
#         "entities": {uid: {"attrs", "ancestors"}}}  (entities: request-scoped, optional,
#         replacing a stored entity with the same uid, as in pdpd).
# Query: POST /v1/data/pdp/quickstart/decision -> {"allow": bool, "reasons": [policy ids]}
# with Cedar's semantics: any forbid wins, else any permit allows, else deny; reasons are the
# determining policies (the forbids when denied by one, the permits when allowed).
package pdp.quickstart

entity(uid) := e if e := input.entities[uid]

entity(uid) := e if {
	not input.entities[uid]
	e := data.quickstart.entities[uid]
}

# Cedar's `in`: the entity itself or one of its ancestors.
in_entity(uid, ancestor) if uid == ancestor

in_entity(uid, ancestor) if ancestor in entity(uid).ancestors

resource := entity(input.resource)

is_document if startswith(input.resource, "Document::")

# --- permits (policies/documents.cedar, guards.cedar, sharing.cedar) ---

permits contains "owner-full-access" if {
	is_document
	resource.attrs.owner == input.principal
}

permits contains "team-can-view" if {
	input.action == "Action::view"
	is_document
	in_entity(input.principal, resource.attrs.team)
}

permits contains "editors-edit-team-docs" if {
	in_entity(input.principal, "Role::editor")
	input.action in {"Action::edit", "Action::share"}
	is_document
	in_entity(input.principal, resource.attrs.team)
}

permits contains "public-docs-are-viewable" if {
	input.action == "Action::view"
	is_document
	resource.attrs.public == true
}

permits contains "admins-do-everything" if in_entity(input.principal, "Role::admin")

# share-view template: one data entry per link.
permits contains share.id if {
	input.action == "Action::view"
	some share in data.quickstart.shares
	share.principal == input.principal
	share.resource == input.resource
}

# --- forbids ---

forbids contains "locked-docs-are-read-only" if {
	in_entity(input.action, "Action::write")
	is_document
	resource.attrs.locked == true
	not in_entity(input.principal, "Role::admin")
}

forbids contains "delete-only-from-office" if {
	input.action == "Action::delete"
	not input.context.network == "office"
}

# --- decision ---

default allow := false

allow if {
	count(forbids) == 0
	count(permits) > 0
}

reasons := forbids if count(forbids) > 0

reasons := permits if {
	count(forbids) == 0
	count(permits) > 0
}

reasons := set() if {
	count(forbids) == 0
	count(permits) == 0
}

decision := {"allow": allow, "reasons": reasons}
