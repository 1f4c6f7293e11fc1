package contract

// OmahaReasonAttr is an attribute imgbuild adds to an Omaha <event>: the
// reason of an error event in words (for a rollback, the failed probe).
// Omaha v3 has no text field for it; servers that do not know the
// attribute ignore it, as XML readers ignore attributes they do not know.
const OmahaReasonAttr = "imgbuild_reason"

// OmahaRolledBackAttr is another attribute of imgbuild's on an Omaha
// <event>: with a rollback (code 44), the version whose trial failed,
// which the event's version (the one running again) cannot say. Servers
// pause that version's rollout on it.
const OmahaRolledBackAttr = "imgbuild_rolled_back"

// OmahaReasonMax bounds the reason's length in bytes.
const OmahaReasonMax = 1024
