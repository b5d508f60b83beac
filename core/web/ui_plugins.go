package web

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/pluginconf"
)

// The plugins pages (/admin/plugins): what runs and how it is doing, the
// switches, the grants of third-party plugins and each plugin's settings
// as a form generated from the JSON Schema it declared. Every change goes
// through pluginconf, like the API; secrets are never put on a page.

// pluginsPage is /admin/plugins.
type pluginsPage struct {
	Off     bool
	Plugins []pluginRow
}

type pluginRow struct {
	core.PluginStatus
	Settings core.PluginSettings
}

// pluginPage is /admin/plugins/:name.
type pluginPage struct {
	pluginRow
	Fields      []confField
	NoSchema    bool   // the plugin declared no configuration
	SchemaError string // the plugin's schema could not be read
	ConfigError string // a problem not tied to one field (the plugin's refusal)
	Saved       bool
	Grants      []grantRow
	Caps        []grantRow
}

type grantRow struct {
	Name     string
	Approved bool
}

// confField is one input of the generated configuration form.
type confField struct {
	Name        string
	Input       string // text, number, checkbox, select, password, lines, pairs, json
	Required    bool
	Description string
	Format      string
	Default     string
	Value       string // what the input shows (never a secret)
	Checked     bool
	Options     []string
	Step        string // number inputs: "1" for integers
	Min, Max    string
	SecretSet   bool
	EnumJSON    bool // the select's options are JSON values, not text
	Error       string
}

var pluginFlashes = map[string]string{
	"enabled":      "The plugin was enabled; it starts in a moment.",
	"disabled":     "The plugin was disabled.",
	"config":       "The configuration was saved and handed to the plugin.",
	"config-later": "The configuration was saved. The plugin is not running, so it checks it when it starts (enable it to start it).",
	"grants":       "The grants were saved; the plugin restarts with them.",
}

// GET /admin/plugins
func (s *Server) uiPlugins(c *echo.Context) error {
	d := pluginsPage{Off: s.pluginsOn() != nil}
	if !d.Off {
		for _, st := range s.plugins.Statuses() {
			set, err := s.pconf.Settings(ctx(c), st.Name)
			if err != nil {
				return err
			}
			d.Plugins = append(d.Plugins, pluginRow{PluginStatus: st, Settings: set})
		}
	}
	return s.render(c, http.StatusOK, "admin_plugins", Page{Title: "Plugins", Nav: "admin", Data: d,
		Flash: pluginFlashes[c.QueryParam("done")]})
}

func (s *Server) loadPluginPage(c *echo.Context) (pluginPage, *pluginconf.Schema, error) {
	if err := s.pluginsOn(); err != nil {
		return pluginPage{}, nil, err
	}
	name := c.Param("name")
	st, err := s.pconf.Status(name)
	if err != nil {
		return pluginPage{}, nil, err
	}
	set, err := s.pconf.Settings(ctx(c), name)
	if err != nil {
		return pluginPage{}, nil, err
	}
	d := pluginPage{pluginRow: pluginRow{PluginStatus: st, Settings: set}}
	for _, f := range st.Asked.CustomerFields {
		d.Grants = append(d.Grants, grantRow{Name: f, Approved: st.Builtin || slices.Contains(set.Approved.CustomerFields, f)})
	}
	for _, f := range st.Asked.Capabilities {
		d.Caps = append(d.Caps, grantRow{Name: f, Approved: st.Builtin || slices.Contains(set.Approved.Capabilities, f)})
	}
	schema, err := pluginconf.ParseSchema(st.ConfigSchema)
	if err != nil {
		d.SchemaError = fieldMessage(err)
		return d, nil, nil
	}
	if schema == nil || len(schema.Properties) == 0 {
		d.NoSchema = true
		return d, schema, nil
	}
	d.Fields = formFields(schema, set.Config)
	return d, schema, nil
}

func (s *Server) renderPlugin(c *echo.Context, status int, d pluginPage) error {
	return s.render(c, status, "admin_plugin", Page{Title: "Plugin " + safeText(d.Name), Nav: "admin", Data: d,
		Flash: pluginFlashes[c.QueryParam("done")]})
}

// GET /admin/plugins/:name
func (s *Server) uiPlugin(c *echo.Context) error {
	d, _, err := s.loadPluginPage(c)
	if err != nil {
		return err
	}
	return s.renderPlugin(c, http.StatusOK, d)
}

// formFields turns the schema's top-level properties into inputs showing
// the stored values (secrets only as "set" or "not set").
func formFields(schema *pluginconf.Schema, stored json.RawMessage) []confField {
	var cur map[string]any
	if len(stored) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(stored)))
		dec.UseNumber()
		_ = dec.Decode(&cur)
	}
	set := pluginconf.SecretsSet(stored, schema)
	var out []confField
	for _, p := range schema.Properties {
		ps := p.Schema
		f := confField{Name: p.Name, Required: slices.Contains(schema.Required, p.Name), Description: ps.Description, Format: ps.Format}
		if len(ps.Default) > 0 {
			f.Default = jsonText(ps.Default)
		}
		v, has := cur[p.Name]
		switch t := ps.Type(); {
		case ps.WriteOnly:
			f.Input, f.SecretSet = "password", set[p.Name]
		case len(ps.Enum) > 0:
			f.Input = "select"
			for _, e := range ps.Enum {
				f.Options = append(f.Options, valueText(e))
				if _, isStr := e.(string); !isStr {
					f.EnumJSON = true
				}
			}
		case t == "boolean":
			f.Input = "checkbox"
			f.Checked = v == true
			if !has && string(ps.Default) == "true" {
				f.Checked = true
			}
		case t == "integer" || t == "number":
			f.Input, f.Step = "number", "any"
			if t == "integer" {
				f.Step = "1"
			}
			if ps.Minimum != nil {
				f.Min = strconv.FormatFloat(*ps.Minimum, 'f', -1, 64)
			}
			if ps.Maximum != nil {
				f.Max = strconv.FormatFloat(*ps.Maximum, 'f', -1, 64)
			}
		case t == "array" && (ps.Items == nil || ps.Items.Type() == "string"):
			f.Input = "lines"
		case t == "object" && len(ps.Properties) == 0 && (ps.Additional == nil || ps.Additional.Type() == "string"):
			f.Input = "pairs"
		case t == "string" || t == "":
			f.Input = "text"
		default:
			f.Input = "json"
		}
		if has && !ps.WriteOnly && f.Input != "checkbox" {
			f.Value = inputText(f.Input, v)
		}
		out = append(out, f)
	}
	return out
}

func jsonText(raw json.RawMessage) string {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return ""
	}
	return valueText(v)
}

// valueText shows a JSON value as a person types it: strings bare.
func valueText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func inputText(input string, v any) string {
	switch input {
	case "lines":
		if l, ok := v.([]any); ok {
			var lines []string
			for _, x := range l {
				lines = append(lines, valueText(x))
			}
			return strings.Join(lines, "\n")
		}
	case "pairs":
		if m, ok := v.(map[string]any); ok {
			var lines []string
			for _, k := range slices.Sorted(maps.Keys(m)) {
				lines = append(lines, k+" = "+valueText(m[k]))
			}
			return strings.Join(lines, "\n")
		}
	case "json":
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	}
	return valueText(v)
}

// configFromForm builds the configuration object from the posted form;
// inputs that cannot even be read (letters in a number) are field errors.
func configFromForm(fields []confField, form url.Values, fail map[string]string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		raw := form.Get("f." + f.Name)
		switch f.Input {
		case "password":
			if form.Get("clear."+f.Name) != "" {
				out[f.Name] = nil
			} else if raw != "" {
				out[f.Name] = raw
			} // empty: pluginconf keeps the stored secret
		case "checkbox":
			out[f.Name] = raw != ""
		case "select":
			if raw == "" {
				continue
			}
			if slices.Contains(f.Options, raw) {
				var v any = raw
				if f.EnumJSON {
					dec := json.NewDecoder(strings.NewReader(raw))
					dec.UseNumber()
					if dec.Decode(&v) != nil {
						v = raw
					}
				}
				out[f.Name] = v
			} else {
				fail[f.Name] = "choose one of the listed values"
			}
		case "number":
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			if _, err := strconv.ParseFloat(raw, 64); err != nil {
				fail[f.Name] = "must be a number"
				continue
			}
			out[f.Name] = json.Number(raw)
		case "lines":
			list := []any{}
			for _, l := range strings.Split(raw, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					list = append(list, l)
				}
			}
			if len(list) > 0 {
				out[f.Name] = list
			}
		case "pairs":
			m := map[string]any{}
			for i, l := range strings.Split(raw, "\n") {
				if l = strings.TrimSpace(l); l == "" {
					continue
				}
				k, v, ok := strings.Cut(l, "=")
				if !ok || strings.TrimSpace(k) == "" {
					fail[f.Name] = "line " + strconv.Itoa(i+1) + ": write name = value"
					break
				}
				m[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if len(m) > 0 {
				out[f.Name] = m
			}
		case "json":
			if strings.TrimSpace(raw) == "" {
				continue
			}
			var v any
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				fail[f.Name] = "not valid JSON"
				continue
			}
			out[f.Name] = v
		default:
			if raw != "" {
				out[f.Name] = raw
			}
		}
	}
	return out
}

// POST /admin/plugins/:name/config
func (s *Server) uiPluginConfig(c *echo.Context) error {
	d, schema, err := s.loadPluginPage(c)
	if err != nil {
		return err
	}
	if schema == nil && d.SchemaError != "" {
		return core.Invalidf("%s", d.SchemaError)
	}
	form, err := c.FormValues()
	if err != nil {
		return core.Invalidf("unreadable form")
	}
	fail := map[string]string{}
	obj := configFromForm(d.Fields, form, fail)
	// Show what was typed again, whatever happens next (never a secret).
	for i, f := range d.Fields {
		if f.Input == "checkbox" {
			d.Fields[i].Checked = form.Get("f."+f.Name) != ""
		} else if f.Input != "password" {
			d.Fields[i].Value = safeText(form.Get("f." + f.Name))
		}
	}
	if len(fail) == 0 {
		b, _ := json.Marshal(obj)
		var checked bool
		checked, err = s.pconf.SetConfig(ctx(c), d.Name, b, actor(c))
		if err == nil {
			auditDetail(c, "configuration changed")
			done := "config"
			if !checked {
				done = "config-later"
			}
			return seeOther(c, "/admin/plugins/"+url.PathEscape(d.Name)+"?done="+done)
		}
		if !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrTooLarge) {
			return err
		}
		for path, msg := range pluginconf.Fields(err) {
			top := path
			if i := strings.IndexAny(top, ".["); i >= 0 {
				top = top[:i]
			}
			if top == "" || top == "config" || !slices.ContainsFunc(d.Fields, func(f confField) bool { return f.Name == top }) {
				d.ConfigError = msg
				continue
			}
			if path != top {
				msg = strings.TrimPrefix(path, top) + ": " + msg
			}
			if _, seen := fail[top]; !seen {
				fail[top] = msg
			}
		}
	}
	for i, f := range d.Fields {
		d.Fields[i].Error = fail[f.Name]
	}
	if d.ConfigError == "" && len(fail) > 0 {
		d.ConfigError = "Nothing was saved: correct the marked settings."
	}
	return s.renderPlugin(c, http.StatusUnprocessableEntity, d)
}

// POST /admin/plugins/:name/grants
func (s *Server) uiPluginGrants(c *echo.Context) error {
	if err := s.pluginsOn(); err != nil {
		return err
	}
	form, err := c.FormValues()
	if err != nil {
		return core.Invalidf("unreadable form")
	}
	g := core.PluginGrants{CustomerFields: form["field"], Capabilities: form["capability"]}
	if err := s.pconf.Approve(ctx(c), c.Param("name"), g, actor(c)); err != nil {
		return err
	}
	auditDetail(c, "grants approved: fields "+strings.Join(g.CustomerFields, ", ")+"; capabilities "+strings.Join(g.Capabilities, ", "))
	return seeOther(c, "/admin/plugins/"+url.PathEscape(c.Param("name"))+"?done=grants")
}

// POST /admin/plugins/:name/enable and /disable
func (s *Server) uiPluginEnable(c *echo.Context) error  { return s.uiPluginSwitch(c, true) }
func (s *Server) uiPluginDisable(c *echo.Context) error { return s.uiPluginSwitch(c, false) }

func (s *Server) uiPluginSwitch(c *echo.Context, on bool) error {
	if err := s.pluginsOn(); err != nil {
		return err
	}
	reason := c.FormValue("reason")
	if err := s.pconf.SetEnabled(ctx(c), c.Param("name"), on, reason, actor(c)); err != nil {
		return err
	}
	done := "enabled"
	if !on {
		done = "disabled"
		auditDetail(c, "disabled: "+reason)
	} else {
		auditDetail(c, "enabled")
	}
	back := "/admin/plugins"
	if c.FormValue("from") == "detail" {
		back += "/" + url.PathEscape(c.Param("name"))
	}
	return seeOther(c, back+"?done="+done)
}
