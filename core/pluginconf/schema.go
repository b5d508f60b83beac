package pluginconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/retain-crm/retain/core"
)

// Limits on what a configuration and a schema may be.
const (
	MaxConfigBytes = 64 << 10  // one plugin's configuration, as JSON
	MaxSchemaBytes = 256 << 10 // the schema a plugin declares
	MaxDepth       = 32        // nesting of objects and arrays
)

// Schema is the subset of JSON Schema retain understands: type (object,
// string, integer, number, boolean, array, null — or a list of them),
// properties (their order kept, for the form), required, enum,
// minimum/maximum, minLength/maxLength, minItems/maxItems, items,
// additionalProperties (false, or a schema every other key must match),
// default, description, title, format (shown, not enforced), writeOnly
// (secrets). Other keywords are ignored here; the plugin's own Configure
// has the last word.
type Schema struct {
	Types       []string        `json:"-"` // empty: any type
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Format      string          `json:"format"`
	Properties  Props           `json:"properties"`
	Required    []string        `json:"required"`
	Enum        []any           `json:"-"`
	Default     json.RawMessage `json:"default"`
	WriteOnly   bool            `json:"writeOnly"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
	MinLength   *int            `json:"minLength"`
	MaxLength   *int            `json:"maxLength"`
	MinItems    *int            `json:"minItems"`
	MaxItems    *int            `json:"maxItems"`
	Items       *Schema         `json:"items"`
	// NoAdditional is additionalProperties: false; Additional is the
	// schema of other keys when additionalProperties is a schema.
	NoAdditional bool    `json:"-"`
	Additional   *Schema `json:"-"`
}

// Prop is one property of an object schema.
type Prop struct {
	Name   string
	Schema *Schema
}

// Props are an object's properties in the order the schema lists them.
type Props []Prop

// Get returns the schema of property name, or nil.
func (p Props) Get(name string) *Schema {
	for _, x := range p {
		if x.Name == name {
			return x.Schema
		}
	}
	return nil
}

// UnmarshalJSON keeps the properties in the schema's order.
func (p *Props) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("properties must be an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		var s Schema
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("properties.%s: %w", name, err)
		}
		for _, x := range *p {
			if x.Name == name {
				return fmt.Errorf("properties: %q twice", name)
			}
		}
		*p = append(*p, Prop{Name: name, Schema: &s})
	}
	return nil
}

// UnmarshalJSON reads the keywords whose JSON shape varies (type,
// additionalProperties, enum) by hand.
func (s *Schema) UnmarshalJSON(b []byte) error {
	type plain Schema
	var aux struct {
		plain
		Type       json.RawMessage `json:"type"`
		Additional json.RawMessage `json:"additionalProperties"`
		Enum       json.RawMessage `json:"enum"`
	}
	if bytes.Equal(bytes.TrimSpace(b), []byte("true")) || bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*s = Schema{}
		return nil
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = Schema(aux.plain)
	if len(aux.Type) > 0 {
		var one string
		if err := json.Unmarshal(aux.Type, &one); err == nil {
			s.Types = []string{one}
		} else if err := json.Unmarshal(aux.Type, &s.Types); err != nil {
			return errors.New("type must be a string or a list of strings")
		}
		for _, t := range s.Types {
			switch t {
			case "object", "string", "integer", "number", "boolean", "array", "null":
			default:
				return fmt.Errorf("type %q is not a JSON Schema type", t)
			}
		}
	}
	switch a := bytes.TrimSpace(aux.Additional); {
	case len(a) == 0, string(a) == "true":
	case string(a) == "false":
		s.NoAdditional = true
	default:
		s.Additional = new(Schema)
		if err := json.Unmarshal(a, s.Additional); err != nil {
			return fmt.Errorf("additionalProperties: %w", err)
		}
	}
	if len(aux.Enum) > 0 {
		v, err := parseValue(aux.Enum, MaxSchemaBytes)
		if err != nil {
			return fmt.Errorf("enum: %w", err)
		}
		list, ok := v.([]any)
		if !ok {
			return errors.New("enum must be a list")
		}
		s.Enum = list
	}
	return nil
}

// ParseSchema reads a plugin's declared schema. An empty schema is nil:
// the plugin takes no configuration.
func ParseSchema(src string) (*Schema, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	if len(src) > MaxSchemaBytes {
		return nil, fmt.Errorf("%w: the plugin's configuration schema is larger than %d bytes", core.ErrInvalid, MaxSchemaBytes)
	}
	if err := checkDepth([]byte(src)); err != nil {
		return nil, fmt.Errorf("%w: the plugin's configuration schema: %v", core.ErrInvalid, err)
	}
	var s Schema
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		return nil, fmt.Errorf("%w: the plugin's configuration schema: %v", core.ErrInvalid, err)
	}
	return &s, nil
}

// Is reports whether the schema allows type t (a schema without a type
// allows every type).
func (s *Schema) Is(t string) bool {
	if len(s.Types) == 0 {
		return true
	}
	if slices.Contains(s.Types, t) {
		return true
	}
	return t == "integer" && slices.Contains(s.Types, "number")
}

// Type is the schema's first non-null type ("" when it names none), which
// decides the form input.
func (s *Schema) Type() string {
	for _, t := range s.Types {
		if t != "null" {
			return t
		}
	}
	return ""
}

// checkDepth refuses nesting beyond MaxDepth before anything decodes it.
func checkDepth(b []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("nested deeper than %d levels", MaxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// parseValue decodes one JSON value strictly: valid UTF-8, at most max
// bytes and MaxDepth levels, no duplicate keys (two decoders could each
// pick a different one), numbers kept as written (json.Number), nothing
// after the value.
func parseValue(b []byte, max int) (any, error) {
	if len(b) > max {
		return nil, fmt.Errorf("%w: larger than %d bytes", core.ErrTooLarge, max)
	}
	if !utf8.Valid(b) {
		return nil, core.Invalidf("not valid UTF-8")
	}
	if err := checkDepth(b); err != nil {
		return nil, core.Invalidf("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readValue(dec, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, core.Invalidf("unexpected data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, path string) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, core.Invalidf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, core.Invalidf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
				}
				k := kt.(string) // the decoder only yields string keys
				if _, dup := m[k]; dup {
					return nil, core.FieldErr(join(path, k), "appears twice")
				}
				v, err := readValue(dec, join(path, k))
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, core.Invalidf("malformed JSON")
			}
			return m, nil
		case '[':
			var l []any
			for i := 0; dec.More(); i++ {
				v, err := readValue(dec, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, core.Invalidf("malformed JSON")
			}
			if l == nil {
				l = []any{}
			}
			return l, nil
		}
		return nil, core.Invalidf("malformed JSON")
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks v (as parseValue decodes it) against s and returns every
// problem, each a core.FieldErr naming its path, joined (nil when none).
func Validate(s *Schema, v any) error {
	var errs []error
	validate(s, v, "", &errs)
	return errors.Join(errs...)
}

// maxProblems bounds the list a hostile config can produce.
const maxProblems = 50

func validate(s *Schema, v any, path string, errs *[]error) {
	if s == nil || len(*errs) >= maxProblems {
		return
	}
	field := path
	if field == "" {
		field = "config"
	}
	bad := func(format string, args ...any) { *errs = append(*errs, core.FieldErr(field, format, args...)) }
	if !s.Is(kindOf(v)) {
		if n, ok := v.(json.Number); ok && s.Is("integer") && !s.Is("number") {
			if _, err := toInteger(n); err != nil {
				bad("must be a whole number")
				return
			}
		} else {
			bad("must be %s, not %s", typeWords(s.Types), article(kindOf(v)))
			return
		}
	}
	if len(s.Enum) > 0 && !inEnum(s.Enum, v) {
		bad("must be one of %s", enumWords(s.Enum))
		return
	}
	switch v := v.(type) {
	case string:
		n := utf8.RuneCountInString(v)
		if s.MaxLength != nil && n > *s.MaxLength {
			bad("at most %d characters", *s.MaxLength)
		}
		if s.MinLength != nil && n < *s.MinLength {
			bad("at least %d characters", *s.MinLength)
		}
		if strings.ContainsRune(v, 0) {
			bad("must not contain NUL characters")
		}
	case json.Number:
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			bad("is not a finite number")
			return
		}
		if s.Is("integer") && !s.Is("number") {
			if _, err := toInteger(v); err != nil {
				bad("must be a whole number between -2⁵³ and 2⁵³")
				return
			}
		}
		if s.Minimum != nil && f < *s.Minimum {
			bad("must be at least %s", num(*s.Minimum))
		}
		if s.Maximum != nil && f > *s.Maximum {
			bad("must be at most %s", num(*s.Maximum))
		}
	case []any:
		if s.MaxItems != nil && len(v) > *s.MaxItems {
			bad("at most %d items", *s.MaxItems)
		}
		if s.MinItems != nil && len(v) < *s.MinItems {
			bad("at least %d items", *s.MinItems)
		}
		for i, x := range v {
			validate(s.Items, x, path+"["+strconv.Itoa(i)+"]", errs)
		}
	case map[string]any:
		for _, r := range s.Required {
			if _, ok := v[r]; !ok {
				*errs = append(*errs, core.FieldErr(join(path, r), "required"))
			}
		}
		for _, k := range sortedKeys(v) {
			if ps := s.Properties.Get(k); ps != nil {
				validate(ps, v[k], join(path, k), errs)
				continue
			}
			switch {
			case s.NoAdditional:
				*errs = append(*errs, core.FieldErr(join(path, k), "unknown setting %q", k))
			case s.Additional != nil:
				validate(s.Additional, v[k], join(path, k), errs)
			}
		}
	}
}

// toInteger accepts 5, 5.0 and 5e2 (JSON Schema's integers are numbers
// without a fraction) within the range a float64 holds exactly.
func toInteger(n json.Number) (int64, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i > 1<<53 || i < -(1<<53) {
			return 0, errors.New("out of range")
		}
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errors.New("not an integer")
	}
	return int64(f), nil
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func article(t string) string {
	switch t {
	case "null":
		return "null"
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}

func typeWords(ts []string) string {
	var w []string
	for _, t := range ts {
		switch t {
		case "string":
			w = append(w, "text")
		case "integer":
			w = append(w, "a whole number")
		case "number":
			w = append(w, "a number")
		case "boolean":
			w = append(w, "true or false")
		case "array":
			w = append(w, "a list")
		case "object":
			w = append(w, "an object")
		case "null":
			w = append(w, "null")
		}
	}
	return strings.Join(w, " or ")
}

func inEnum(enum []any, v any) bool {
	want := canon(v)
	for _, e := range enum {
		if canon(e) == want {
			return true
		}
	}
	return false
}

func canon(v any) string {
	if n, ok := v.(json.Number); ok { // 5 and 5.0 are the same number
		if f, err := n.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func enumWords(enum []any) string {
	var w []string
	for i, e := range enum {
		if i == 10 {
			w = append(w, "…")
			break
		}
		if s, ok := e.(string); ok {
			w = append(w, strconv.Quote(s))
		} else {
			w = append(w, canon(e))
		}
	}
	return strings.Join(w, ", ")
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
