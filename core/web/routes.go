package web

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// Route is one entry of the route table: what answers METHOD PATH and the
// permission a caller needs. The staff UI's routes go into the same table
// later, so a role × route test can walk it: a role is a set of scopes.
type Route struct {
	Method string
	Path   string // Echo syntax: /customers/:id
	Name   string // stable name, also the OpenAPI operationId
	// Scope is the permission the caller's credential must carry;
	// ScopePublic means no credential is needed.
	Scope core.Scope
	// Body says what the route reads and so which size limit applies.
	Body    BodyKind
	Handler echo.HandlerFunc
}

// ScopePublic marks a route that needs no credential.
const ScopePublic core.Scope = ""

// BodyKind selects the request-body limit of a route.
type BodyKind uint8

// The body kinds.
const (
	BodyNone   BodyKind = iota // no body expected; capped like JSON anyway
	BodyJSON                   // Config.Server.MaxBodyBytes
	BodyUpload                 // Config.Server.MaxUploadBytes
	BodyHook                   // MaxHookBody (inbound hooks, hooks.go)
)

// APIPrefix is where the JSON API lives.
const APIPrefix = "/api/v1"

// routeTable is the whole HTTP surface, API and staff UI: one table, so
// the role × route test (access_test.go) walks every route. Every /api/v1
// route must also be in openapi.json (a test checks both directions).
// Scope is checked against core.Permissions for a signed-in user and
// against the token's scopes for an API token.
func (s *Server) routeTable() []Route {
	const (
		get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	)
	api := func(p string) string { return APIPrefix + p }
	return []Route{
		// operations
		{get, "/healthz", "healthz", ScopePublic, BodyNone, s.healthz},
		{get, "/readyz", "readyz", ScopePublic, BodyNone, s.readyz},
		{get, "/metrics", "metrics", ScopePublic, BodyNone, s.metricsHandler},
		{get, api("/openapi.json"), "openapi", ScopePublic, BodyNone, s.openapi},
		{get, "/static/*", "static", ScopePublic, BodyNone, s.staticHandler()},

		// UI: signing in and out, first-run setup, home
		{get, "/signin", "signInPage", ScopePublic, BodyNone, s.signInPage},
		{post, "/signin", "signIn", ScopePublic, BodyJSON, s.signIn},
		{post, "/signout", "signOut", core.ScopeSignedIn, BodyNone, s.signOut},
		{get, "/setup", "setupPage", ScopePublic, BodyNone, s.setupPage},
		{post, "/setup", "setup", ScopePublic, BodyJSON, s.setup},
		{get, "/", "home", core.ScopeSignedIn, BodyNone, s.home},

		// UI: customers (ui_customers.go)
		{get, "/customers", "uiCustomers", core.ScopeCustomersRead, BodyNone, s.uiCustomers},
		{get, "/customers/:id", "uiCustomer", core.ScopeCustomersRead, BodyNone, s.uiCustomer},
		{get, "/customers/new", "uiCustomerNew", core.ScopeCustomersWrite, BodyNone, s.uiCustomerNew},
		{post, "/customers", "uiCustomerCreate", core.ScopeCustomersWrite, BodyJSON, s.uiCustomerCreate},
		{get, "/customers/:id/edit", "uiCustomerEdit", core.ScopeCustomersWrite, BodyNone, s.uiCustomerEdit},
		{post, "/customers/:id", "uiCustomerSave", core.ScopeCustomersWrite, BodyJSON, s.uiCustomerSave},
		{get, "/customers/:id/timeline", "uiTimeline", core.ScopeInteractionsRead, BodyNone, s.uiTimeline},
		{post, "/customers/:id/interactions", "uiAddInteraction", core.ScopeInteractionsWrite, BodyJSON, s.uiAddInteraction},
		{get, "/customers/:id/erase", "uiCustomerEraseConfirm", core.ScopeCustomersErase, BodyNone, s.uiCustomerEraseConfirm},
		{post, "/customers/:id/erase", "uiCustomerErase", core.ScopeCustomersErase, BodyJSON, s.uiCustomerErase},
		{post, "/customers/:id/messages", "uiSendMessage", core.ScopeMessagesSend, BodyJSON, s.uiSendMessage},
		{get, "/customers/:id/panels/:plugin", "uiCustomerPanel", core.ScopeCustomersRead, BodyNone, s.uiCustomerPanel},
		// (more customer UI routes go here)

		// UI: imports (ui_imports.go)
		{get, "/imports", "uiImports", core.ScopeImport, BodyNone, s.uiImports},
		{post, "/imports/upload", "uiImportUpload", core.ScopeImport, BodyUpload, s.uiImportUpload},
		{get, "/imports/uploads/:upload", "uiImportStaged", core.ScopeImport, BodyNone, s.uiImportStaged},
		{post, "/imports/uploads/:upload/preview", "uiImportPreview", core.ScopeImport, BodyJSON, s.uiImportPreview},
		{post, "/imports/uploads/:upload/start", "uiImportStart", core.ScopeImport, BodyJSON, s.uiImportStart},
		{post, "/imports/uploads/:upload/discard", "uiImportDiscard", core.ScopeImport, BodyJSON, s.uiImportDiscard},
		{get, "/imports/:id", "uiImportJob", core.ScopeImport, BodyNone, s.uiImportJob},
		{post, "/imports/:id/cancel", "uiImportCancel", core.ScopeImport, BodyJSON, s.uiImportCancel},
		{get, "/imports/:id/rejected", "uiImportRejected", core.ScopeImport, BodyNone, s.uiImportRejected},
		// (more import UI routes go here)

		// UI: admin and account (ui_admin.go)
		{get, "/admin", "uiAdmin", core.ScopeAdmin, BodyNone, s.uiAdmin},
		{get, "/admin/backup", "uiBackup", core.ScopeAdmin, BodyNone, s.uiBackup},
		{get, "/admin/users", "uiUsers", core.ScopeAdmin, BodyNone, s.uiUsers},
		{post, "/admin/users", "uiCreateUser", core.ScopeAdmin, BodyJSON, s.uiCreateUser},
		{get, "/admin/users/:id", "uiUser", core.ScopeAdmin, BodyNone, s.uiUser},
		{post, "/admin/users/:id", "uiUpdateUser", core.ScopeAdmin, BodyJSON, s.uiUpdateUser},
		{post, "/admin/users/:id/disable", "uiDisableUser", core.ScopeAdmin, BodyJSON, s.uiDisableUser},
		{post, "/admin/users/:id/enable", "uiEnableUser", core.ScopeAdmin, BodyJSON, s.uiEnableUser},
		{post, "/admin/users/:id/password", "uiResetPassword", core.ScopeAdmin, BodyJSON, s.uiResetPassword},
		{get, "/admin/tokens", "uiTokens", core.ScopeAdmin, BodyNone, s.uiTokens},
		{post, "/admin/tokens", "uiCreateToken", core.ScopeAdmin, BodyJSON, s.uiCreateToken},
		{post, "/admin/tokens/:id/revoke", "uiRevokeToken", core.ScopeAdmin, BodyJSON, s.uiRevokeToken},
		{get, "/admin/audit", "uiAudit", core.ScopeAdmin, BodyNone, s.uiAudit},
		{get, "/account", "uiAccount", core.ScopeSignedIn, BodyNone, s.uiAccount},
		{post, "/account/password", "uiChangeOwnPassword", core.ScopeSignedIn, BodyJSON, s.uiChangeOwnPassword},
		{get, "/admin/plugins", "uiPlugins", core.ScopeAdmin, BodyNone, s.uiPlugins},
		{get, "/admin/plugins/:name", "uiPlugin", core.ScopeAdmin, BodyNone, s.uiPlugin},
		{post, "/admin/plugins/:name/config", "uiPluginConfig", core.ScopeAdmin, BodyJSON, s.uiPluginConfig},
		{post, "/admin/plugins/:name/grants", "uiPluginGrants", core.ScopeAdmin, BodyJSON, s.uiPluginGrants},
		{post, "/admin/plugins/:name/enable", "uiPluginEnable", core.ScopeAdmin, BodyJSON, s.uiPluginEnable},
		{post, "/admin/plugins/:name/disable", "uiPluginDisable", core.ScopeAdmin, BodyJSON, s.uiPluginDisable},
		{get, "/admin/outbox", "uiOutbox", core.ScopeOutbox, BodyNone, s.uiOutbox},
		{post, "/admin/outbox/:id/retry", "uiOutboxRetry", core.ScopeOutbox, BodyJSON, s.uiOutboxRetry},
		{post, "/admin/outbox/:id/cancel", "uiOutboxCancel", core.ScopeOutbox, BodyJSON, s.uiOutboxCancel},
		// (more admin UI routes go here)

		// customers
		{post, api("/customers"), "createCustomer", core.ScopeCustomersWrite, BodyJSON, s.createCustomer},
		{get, api("/customers"), "listCustomers", core.ScopeCustomersRead, BodyNone, s.listCustomers},
		{get, api("/customers/:id"), "getCustomer", core.ScopeCustomersRead, BodyNone, s.getCustomer},
		{patch, api("/customers/:id"), "patchCustomer", core.ScopeCustomersWrite, BodyJSON, s.patchCustomer},
		{del, api("/customers/:id"), "eraseCustomer", core.ScopeCustomersErase, BodyNone, s.eraseCustomer},
		{get, api("/customers/by-external-id/:external_id"), "getCustomerByExternalID", core.ScopeCustomersRead, BodyNone, s.getCustomerByExternalID},
		{put, api("/customers/by-external-id/:external_id"), "upsertCustomer", core.ScopeCustomersWrite, BodyJSON, s.upsertCustomer},

		// interactions
		{post, api("/customers/:id/interactions"), "appendInteraction", core.ScopeInteractionsWrite, BodyJSON, s.appendInteraction},
		{get, api("/customers/:id/timeline"), "timeline", core.ScopeInteractionsRead, BodyNone, s.timeline},
		{post, api("/interactions/batch"), "appendInteractions", core.ScopeInteractionsWrite, BodyJSON, s.appendInteractionsBatch},

		// search
		{get, api("/search"), "search", core.ScopeSearch, BodyNone, s.search},

		// retention analytics (analytics.go; pages in ui_home.go)
		{get, "/dashboard", "uiDashboard", core.ScopeCustomersRead, BodyNone, s.uiDashboard},
		{post, "/dashboard/refit", "uiRefit", core.ScopeAdmin, BodyJSON, s.uiRefit},
		{get, api("/metrics"), "getMetrics", core.ScopeCustomersRead, BodyNone, s.apiGetMetrics},
		{get, api("/cohorts"), "getCohorts", core.ScopeCustomersRead, BodyNone, s.apiGetCohorts},
		{get, api("/cohorts/dayn"), "getDayN", core.ScopeCustomersRead, BodyNone, s.apiGetDayN},
		{get, api("/rfm"), "getRFM", core.ScopeCustomersRead, BodyNone, s.apiGetRFM},
		{get, api("/analytics/model"), "getModel", core.ScopeCustomersRead, BodyNone, s.apiGetModel},
		{post, api("/analytics/refit"), "refitModel", core.ScopeAdmin, BodyNone, s.apiRefit},
		{get, api("/analytics/at-risk"), "getAtRisk", core.ScopeCustomersRead, BodyNone, s.apiGetAtRisk},
		{get, api("/customers/:id/predictions"), "getPredictions", core.ScopeCustomersRead, BodyNone, s.apiGetPredictions},
		{get, api("/dashboard"), "getDashboard", core.ScopeCustomersRead, BodyNone, s.apiGetDashboard},
		// (more analytics routes go here)

		// segments (segments.go; pages in ui_segments.go)
		{get, "/segments", "uiSegments", core.ScopeCustomersRead, BodyNone, s.uiSegments},
		{get, "/segments/new", "uiSegmentNew", core.ScopeCustomersWrite, BodyNone, s.uiSegmentNew},
		{get, "/segments/builder", "uiSegmentBuilder", core.ScopeCustomersRead, BodyNone, s.uiSegmentBuilder},
		{post, "/segments", "uiSegmentCreate", core.ScopeCustomersWrite, BodyJSON, s.uiSegmentSave},
		{get, "/segments/:id", "uiSegment", core.ScopeCustomersRead, BodyNone, s.uiSegment},
		{get, "/segments/:id/edit", "uiSegmentEdit", core.ScopeCustomersWrite, BodyNone, s.uiSegmentEdit},
		{post, "/segments/:id", "uiSegmentSave", core.ScopeCustomersWrite, BodyJSON, s.uiSegmentSave},
		{get, "/segments/:id/delete", "uiSegmentDeleteConfirm", core.ScopeCustomersWrite, BodyNone, s.uiSegmentDeleteConfirm},
		{post, "/segments/:id/delete", "uiSegmentDelete", core.ScopeCustomersWrite, BodyJSON, s.uiSegmentDelete},
		{get, "/segments/:id/export.csv", "uiSegmentExport", core.ScopeCustomersRead, BodyNone, s.exportSegment},
		{get, api("/segments"), "listSegments", core.ScopeCustomersRead, BodyNone, s.listSegments},
		{post, api("/segments"), "createSegment", core.ScopeCustomersWrite, BodyJSON, s.createSegment},
		{post, api("/segments/preview"), "previewSegment", core.ScopeCustomersRead, BodyJSON, s.previewSegment},
		{get, api("/segments/:id"), "getSegment", core.ScopeCustomersRead, BodyNone, s.getSegment},
		{put, api("/segments/:id"), "putSegment", core.ScopeCustomersWrite, BodyJSON, s.putSegment},
		{del, api("/segments/:id"), "deleteSegment", core.ScopeCustomersWrite, BodyNone, s.deleteSegment},
		{get, api("/segments/:id/members"), "segmentMembers", core.ScopeCustomersRead, BodyNone, s.segmentMembers},
		{get, api("/segments/:id/export.csv"), "exportSegment", core.ScopeCustomersRead, BodyNone, s.exportSegment},
		// (more segment routes go here)

		// imports
		{post, api("/imports"), "startImport", core.ScopeImport, BodyUpload, s.startImport},
		{get, api("/imports"), "listImports", core.ScopeImport, BodyNone, s.listImports},
		{get, api("/imports/:id"), "getImport", core.ScopeImport, BodyNone, s.getImport},
		{get, api("/imports/:id/rejected"), "importRejected", core.ScopeImport, BodyNone, s.importRejected},
		{del, api("/imports/:id"), "cancelImport", core.ScopeImport, BodyNone, s.cancelImport},

		// admin
		{get, api("/admin/status"), "status", core.ScopeAdmin, BodyNone, s.status},
		{get, api("/admin/backup"), "backup", core.ScopeAdmin, BodyNone, s.backup},
		{get, api("/admin/tokens"), "listTokens", core.ScopeAdmin, BodyNone, s.listTokens},
		{post, api("/admin/tokens"), "createToken", core.ScopeAdmin, BodyJSON, s.createToken},
		{del, api("/admin/tokens/:id"), "revokeToken", core.ScopeAdmin, BodyNone, s.revokeToken},
		{get, api("/admin/users"), "listUsers", core.ScopeAdmin, BodyNone, s.listUsers},
		{post, api("/admin/users"), "createUser", core.ScopeAdmin, BodyJSON, s.createUser},
		{get, api("/admin/users/:id"), "getUser", core.ScopeAdmin, BodyNone, s.getUser},
		{patch, api("/admin/users/:id"), "patchUser", core.ScopeAdmin, BodyJSON, s.patchUser},
		{get, api("/admin/audit"), "listAudit", core.ScopeAdmin, BodyNone, s.listAudit},

		// plugins (plugins.go; pages in ui_plugins.go)
		{get, api("/plugins"), "listPlugins", core.ScopeAdmin, BodyNone, s.listPlugins},
		{get, api("/plugins/:name"), "getPlugin", core.ScopeAdmin, BodyNone, s.getPlugin},
		{put, api("/plugins/:name/config"), "putPluginConfig", core.ScopeAdmin, BodyJSON, s.putPluginConfig},
		{put, api("/plugins/:name/grants"), "putPluginGrants", core.ScopeAdmin, BodyJSON, s.putPluginGrants},
		{post, api("/plugins/:name/enable"), "enablePlugin", core.ScopeAdmin, BodyNone, s.enablePlugin},
		{post, api("/plugins/:name/disable"), "disablePlugin", core.ScopeAdmin, BodyJSON, s.disablePlugin},
		{get, api("/outbox"), "listOutbox", core.ScopeOutbox, BodyNone, s.listOutbox},
		{post, api("/outbox"), "enqueueMessage", core.ScopeMessagesSend, BodyJSON, s.enqueueMessage},
		{get, api("/outbox/:id"), "getOutboxMessage", core.ScopeOutbox, BodyNone, s.getOutboxMessage},
		{post, api("/outbox/:id/retry"), "retryOutboxMessage", core.ScopeOutbox, BodyNone, s.retryOutboxMessage},
		{post, api("/outbox/:id/cancel"), "cancelOutboxMessage", core.ScopeOutbox, BodyNone, s.cancelOutboxMessage},
		{post, api("/customers/:id/messages"), "sendCustomerMessage", core.ScopeMessagesSend, BodyJSON, s.sendCustomerMessage},
		{get, api("/customers/:id/panels/:plugin"), "getCustomerPanel", core.ScopeCustomersRead, BodyNone, s.apiCustomerPanel},
		// (more plugin and outbox routes go here)

		// inbound hooks for plugins (hooks.go): public, any method; the
		// plugin checks signatures, the per-address limit guards the rest
		{echo.RouteAny, "/hooks/:plugin", "hookRoot", ScopePublic, BodyHook, s.hook},
		{echo.RouteAny, "/hooks/:plugin/*", "hook", ScopePublic, BodyHook, s.hook},
	}
}

// wrap puts the per-route checks in front of a handler: the body limit of
// its kind, then authentication, the scope check and CSRF; after a
// successful state-changing request, the audit entry.
func (s *Server) wrap(r Route) echo.HandlerFunc {
	limit := s.cfg.Server.MaxBodyBytes
	switch r.Body {
	case BodyUpload:
		limit = s.cfg.Server.MaxUploadBytes
	case BodyHook:
		limit = MaxHookBody
	}
	h := r.Handler
	return func(c *echo.Context) error {
		req := c.Request()
		if req.ContentLength > limit {
			return tooLarge(limit)
		}
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		}
		if r.Scope != ScopePublic {
			if err := s.authorize(c, r); err != nil {
				return err
			}
		}
		if err := h(c); err != nil {
			return err
		}
		s.auditRequest(c, r)
		return nil
	}
}
