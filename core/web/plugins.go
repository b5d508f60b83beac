package web

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/pluginconf"
)

// The plugins API (admin only): what runs, what it was told, and the
// switches. Secrets in configurations are never answered (pluginconf.Redacted);
// the pages in ui_plugins.go use the same calls.

var errNoPlugins = fmt.Errorf("%w: plugins are not running on this server", core.ErrUnavailable)

func (s *Server) pluginsOn() error {
	if s.plugins == nil || s.pconf == nil {
		return errNoPlugins
	}
	return nil
}

// pluginView is one plugin as the API answers it: the host's status and
// the stored settings, the schema as JSON rather than a string.
type pluginView struct {
	core.PluginStatus
	ConfigSchema json.RawMessage    `json:"config_schema,omitempty"`
	Settings     pluginSettingsView `json:"settings"`
}

type pluginSettingsView struct {
	Config         json.RawMessage   `json:"config,omitempty"` // writeOnly values replaced by "[redacted]"
	Approved       core.PluginGrants `json:"approved"`
	Disabled       bool              `json:"disabled"`
	DisabledReason string            `json:"disabled_reason,omitempty"`
	UpdatedAt      time.Time         `json:"updated_at,omitzero"`
	UpdatedBy      string            `json:"updated_by,omitempty"`
}

func viewOf(st core.PluginStatus, set core.PluginSettings) pluginView {
	v := pluginView{PluginStatus: st, Settings: pluginSettingsView{
		Config: pluginconf.Redacted(set.Config, st.ConfigSchema), Approved: set.Approved, Disabled: set.Disabled,
		DisabledReason: set.DisabledReason, UpdatedAt: set.UpdatedAt, UpdatedBy: set.UpdatedBy}}
	if json.Valid([]byte(st.ConfigSchema)) {
		v.ConfigSchema = json.RawMessage(st.ConfigSchema)
	}
	if v.Settings.Approved.CustomerFields == nil {
		v.Settings.Approved.CustomerFields = []string{}
	}
	if v.Settings.Approved.Capabilities == nil {
		v.Settings.Approved.Capabilities = []string{}
	}
	return v
}

// pluginByName reads the plugin named by the path and its settings.
func (s *Server) pluginByName(c *echo.Context) (pluginView, error) {
	if err := s.pluginsOn(); err != nil {
		return pluginView{}, err
	}
	name := c.Param("name")
	st, err := s.pconf.Status(name)
	if err != nil {
		return pluginView{}, err
	}
	set, err := s.pconf.Settings(ctx(c), name)
	if err != nil {
		return pluginView{}, err
	}
	return viewOf(st, set), nil
}

// actor names the caller in stored settings and outbox messages.
func actor(c *echo.Context) string {
	if u := callerUser(c); u != nil {
		return u.Email
	}
	if t := callerToken(c); t != nil {
		return "token " + t.Name
	}
	return "web"
}

// GET /api/v1/plugins
func (s *Server) listPlugins(c *echo.Context) error {
	if err := s.pluginsOn(); err != nil {
		return err
	}
	out := []pluginView{}
	for _, st := range s.plugins.Statuses() {
		set, err := s.pconf.Settings(ctx(c), st.Name)
		if err != nil {
			return err
		}
		out = append(out, viewOf(st, set))
	}
	return c.JSON(http.StatusOK, map[string]any{"plugins": out})
}

// GET /api/v1/plugins/:name
func (s *Server) getPlugin(c *echo.Context) error {
	v, err := s.pluginByName(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// readRawJSON reads a JSON body as it is (pluginconf parses it strictly).
func readRawJSON(c *echo.Context) ([]byte, error) {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, errUnsupportedMedia
		}
	}
	if req.Body == nil {
		return nil, core.Invalidf("request body is empty; expected a JSON object")
	}
	return io.ReadAll(req.Body)
}

// PUT /api/v1/plugins/:name/config — the whole configuration object;
// secrets left empty or "[redacted]" keep their stored value, null clears one.
func (s *Server) putPluginConfig(c *echo.Context) error {
	if _, err := s.pluginByName(c); err != nil {
		return err
	}
	b, err := readRawJSON(c)
	if err != nil {
		return err
	}
	checked, err := s.pconf.SetConfig(ctx(c), c.Param("name"), b, actor(c))
	if err != nil {
		return err
	}
	auditDetail(c, "configuration changed")
	// Not checked: the plugin is disabled and reads it when it starts.
	c.Response().Header().Set("X-Retain-Config-Checked", strconv.FormatBool(checked))
	return s.getPlugin(c)
}

// PUT /api/v1/plugins/:name/grants — what a third-party plugin may read and do.
func (s *Server) putPluginGrants(c *echo.Context) error {
	if _, err := s.pluginByName(c); err != nil {
		return err
	}
	var g core.PluginGrants
	if err := bindJSON(c, &g); err != nil {
		return err
	}
	if err := s.pconf.Approve(ctx(c), c.Param("name"), g, actor(c)); err != nil {
		return err
	}
	auditDetail(c, fmt.Sprintf("grants approved: fields %v, capabilities %v", g.CustomerFields, g.Capabilities))
	return s.getPlugin(c)
}

// POST /api/v1/plugins/:name/enable
func (s *Server) enablePlugin(c *echo.Context) error { return s.switchPlugin(c, true) }

// POST /api/v1/plugins/:name/disable — optional body {"reason": "..."}.
func (s *Server) disablePlugin(c *echo.Context) error { return s.switchPlugin(c, false) }

func (s *Server) switchPlugin(c *echo.Context, on bool) error {
	if _, err := s.pluginByName(c); err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if req := c.Request(); !on && req.ContentLength != 0 && req.Body != nil && req.Body != http.NoBody {
		b, err := readRawJSON(c)
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			if err := decodeJSON(b, &in); err != nil {
				return err
			}
		}
	}
	if err := s.pconf.SetEnabled(ctx(c), c.Param("name"), on, in.Reason, actor(c)); err != nil {
		return err
	}
	if on {
		auditDetail(c, "enabled")
	} else {
		auditDetail(c, "disabled: "+in.Reason)
	}
	return s.getPlugin(c)
}
