package pluginconf

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

// testSchema looks like the built-in channels' schemas: every kind of
// property the form and the validator handle.
const testSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["host", "secret"],
  "properties": {
    "host": {"type": "string", "maxLength": 20, "description": "server"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "ratio": {"type": "number", "minimum": 0, "maximum": 1},
    "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
    "on": {"type": "boolean"},
    "secret": {"type": "string", "writeOnly": true},
    "token": {"type": "string", "writeOnly": true},
    "words": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "status_map": {"type": "object", "additionalProperties": {"type": "string", "enum": ["delivered", "failed"]}},
    "maybe": {"type": ["string", "null"]}
  }
}`

func TestValidate(t *testing.T) {
	s, err := ParseSchema(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{s.Properties[0].Name, s.Properties[1].Name, s.Properties[10].Name}; strings.Join(got, ",") != "host,port,maybe" {
		t.Fatalf("property order not kept: %v", got)
	}
	for _, tc := range []struct {
		name, in string
		field    string // "" means valid; "-" means a parse error without a field
		kind     error
	}{
		{"minimal", `{"host":"h","secret":"s"}`, "", nil},
		{"everything", `{"host":"h","secret":"s","port":25,"ratio":0.5,"mode":"b","on":true,"words":["x"],"headers":{"X-A":"1"},"status_map":{"OK":"delivered"},"maybe":null}`, "", nil},
		{"integer written as 25.0", `{"host":"h","secret":"s","port":25.0}`, "", nil},
		{"integer as 2.5e1", `{"host":"h","secret":"s","port":2.5e1}`, "", nil},
		{"missing required", `{"secret":"s"}`, "host", core.ErrInvalid},
		{"string for integer", `{"host":"h","secret":"s","port":"25"}`, "port", core.ErrInvalid},
		{"fraction for integer", `{"host":"h","secret":"s","port":2.5}`, "port", core.ErrInvalid},
		{"below minimum", `{"host":"h","secret":"s","port":0}`, "port", core.ErrInvalid},
		{"above maximum", `{"host":"h","secret":"s","port":65536}`, "port", core.ErrInvalid},
		{"huge exponent", `{"host":"h","secret":"s","ratio":1e400}`, "ratio", core.ErrInvalid},
		{"huge integer", `{"host":"h","secret":"s","port":123456789012345678901234567890}`, "port", core.ErrInvalid},
		{"NaN is not JSON", `{"host":"h","secret":"s","ratio":NaN}`, "-", core.ErrInvalid},
		{"Infinity is not JSON", `{"host":"h","secret":"s","ratio":Infinity}`, "-", core.ErrInvalid},
		{"negative zero ok", `{"host":"h","secret":"s","ratio":-0}`, "", nil},
		{"not in enum", `{"host":"h","secret":"s","mode":"c"}`, "mode", core.ErrInvalid},
		{"bool as string", `{"host":"h","secret":"s","on":"true"}`, "on", core.ErrInvalid},
		{"unknown key", `{"host":"h","secret":"s","hots":"typo"}`, "hots", core.ErrInvalid},
		{"too long", `{"host":"` + strings.Repeat("é", 21) + `","secret":"s"}`, "host", core.ErrInvalid},
		{"20 runes ok", `{"host":"` + strings.Repeat("é", 20) + `","secret":"s"}`, "", nil},
		{"NUL in string", `{"host":"a\u0000b","secret":"s"}`, "host", core.ErrInvalid},
		{"array item type", `{"host":"h","secret":"s","words":["a",1]}`, "words[1]", core.ErrInvalid},
		{"too many items", `{"host":"h","secret":"s","words":["a","b","c","d"]}`, "words", core.ErrInvalid},
		{"map value type", `{"host":"h","secret":"s","headers":{"X":1}}`, "headers.X", core.ErrInvalid},
		{"map value enum", `{"host":"h","secret":"s","status_map":{"X":"sent"}}`, "status_map.X", core.ErrInvalid},
		{"object for string", `{"host":{"a":1},"secret":"s"}`, "host", core.ErrInvalid},
		{"duplicate key", `{"host":"h","host":"evil","secret":"s"}`, "host", core.ErrInvalid},
		{"array at top", `[1,2]`, "config", core.ErrInvalid},
		{"trailing data", `{"host":"h","secret":"s"} {}`, "-", core.ErrInvalid},
		{"truncated", `{"host":"h"`, "-", core.ErrInvalid},
		{"deep nesting", `{"headers":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 41), "-", core.ErrInvalid},
		{"non-UTF-8", "{\"host\":\"\xff\xfe\",\"secret\":\"s\"}", "-", core.ErrInvalid},
		{"huge", `{"host":"h","secret":"` + strings.Repeat("x", MaxConfigBytes) + `"}`, "-", core.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseValue([]byte(tc.in), MaxConfigBytes)
			if err == nil {
				if _, ok := v.(map[string]any); !ok {
					err = core.FieldErr("config", "must be a JSON object")
				} else {
					err = Validate(s, v)
				}
			}
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field == "":
				return
			case err == nil:
				t.Fatal("accepted")
			case !errors.Is(err, tc.kind):
				t.Fatalf("error %v is not %v", err, tc.kind)
			case tc.field != "-" && Fields(err)[tc.field] == "":
				t.Fatalf("no problem named %s in %v (%v)", tc.field, Fields(err), err)
			}
		})
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	s, _ := ParseSchema(testSchema)
	v, err := parseValue([]byte(`{"port":"x","mode":"z","on":1}`), MaxConfigBytes)
	if err != nil {
		t.Fatal(err)
	}
	f := Fields(Validate(s, v))
	for _, k := range []string{"host", "secret", "port", "mode", "on"} {
		if f[k] == "" {
			t.Errorf("no problem for %s: %v", k, f)
		}
	}
	// A hostile config cannot make an unbounded list.
	big := `{"headers":{`
	for i := range 500 {
		if i > 0 {
			big += ","
		}
		big += `"h` + strconv.Itoa(i) + `":1`
	}
	v, err = parseValue([]byte(big+`}}`), MaxConfigBytes)
	if err != nil {
		t.Fatal(err)
	}
	var j interface{ Unwrap() []error }
	if !errors.As(Validate(s, v), &j) || len(j.Unwrap()) > maxProblems {
		t.Errorf("problems not bounded")
	}
}

func TestParseSchemaHostile(t *testing.T) {
	for _, src := range []string{
		`{"type": 5}`,
		`{"type": "text"}`,
		`{"properties": []}`,
		`{"properties": {"a": {"type": "string"}, "a": {"type": "integer"}}}`,
		`{"enum": 3}`,
		`{"additionalProperties": 7}`,
		strings.Repeat(`{"items":`, 40) + `{}` + strings.Repeat(`}`, 40),
		`{"type":"object"`,
		strings.Repeat(" ", MaxSchemaBytes+1),
	} {
		if s, err := ParseSchema(src); err == nil && strings.TrimSpace(src) != "" {
			t.Errorf("%.60q: accepted as %+v", src, s)
		}
	}
	if s, err := ParseSchema(""); s != nil || err != nil {
		t.Errorf("empty schema: %v %v", s, err)
	}
}

func TestRedacted(t *testing.T) {
	cfg := []byte(`{"host":"h","secret":"s3cret","token":"","port":25}`)
	got := string(Redacted(cfg, testSchema))
	if strings.Contains(got, "s3cret") || !strings.Contains(got, `"secret":"[redacted]"`) || !strings.Contains(got, `"token":""`) ||
		!strings.Contains(got, `"host":"h"`) {
		t.Errorf("redacted: %s", got)
	}
	// No schema known: everything is hidden.
	if got := string(Redacted(cfg, "")); strings.Contains(got, "s3cret") || strings.Contains(got, `"h"`) {
		t.Errorf("without a schema: %s", got)
	}
	if got := string(Redacted(cfg, "{broken")); strings.Contains(got, "s3cret") {
		t.Errorf("with a broken schema: %s", got)
	}
	if got := Redacted([]byte("not json"), testSchema); string(got) != "{}" {
		t.Errorf("broken config: %s", got)
	}
}

// FuzzValidate: no input panics, and whatever passes is a valid object
// that re-encodes and passes again.
func FuzzValidate(f *testing.F) {
	s, err := ParseSchema(testSchema)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"host":"h","secret":"s"}`, `{"port":1e999}`, `{"headers":{"a":"b"}}`, `[`, `{"a":{"a":{"a":[]}}}`, "\xff", `{"words":["a",null]}`} {
		f.Add([]byte(seed), testSchema)
	}
	f.Add([]byte(`{}`), `{"type":["integer","null"],"enum":[1,null]}`)
	f.Fuzz(func(t *testing.T, cfg []byte, schema string) {
		sch, err := ParseSchema(schema)
		if err != nil {
			sch = s
		}
		v, err := parseValue(cfg, MaxConfigBytes)
		if err != nil {
			return
		}
		if Validate(sch, v) != nil {
			return
		}
		_ = Redacted(cfg, schema)
	})
}
