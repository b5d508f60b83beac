package sms

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Data is what a url or body_template sees.
type Data struct {
	To             string // E.164, e.g. +4915112345678
	Text           string
	From           string
	IdempotencyKey string
	CustomerID     string
}

const (
	maxTemplate = 16 << 10
	// maxRendered bounds what a template may produce (a body or a URL).
	maxRendered = 256 << 10
)

// funcs are the template functions besides text/template's builtins
// (urlquery, html, js, print...): json renders a JSON string literal (with
// its quotes), xml escapes character data and attributes.
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	"xml": func(s string) (string, error) {
		var b bytes.Buffer
		err := xml.EscapeText(&b, []byte(s))
		return b.String(), err
	},
}

func parseTemplate(field, src string) (*template.Template, error) {
	if len(src) > maxTemplate {
		return nil, sdk.Invalidf("%s: longer than %d bytes", field, maxTemplate)
	}
	t, err := template.New(field).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, sdk.Invalidf("%s: %v", field, err)
	}
	if len(t.Templates()) > 1 {
		return nil, sdk.Invalidf("%s: define and block are not allowed", field)
	}
	if err := checkTree(t.Tree.Root); err != nil {
		return nil, sdk.Invalidf("%s: %v", field, err)
	}
	return t, nil
}

// checkTree refuses range and template calls: an SMS request needs
// neither, and without them a template runs in time linear in its size
// (no "{{range 1000000000}}" stalling every Send).
func checkTree(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkTree(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return fmt.Errorf("range is not allowed")
	case *parse.TemplateNode:
		return fmt.Errorf("template calls are not allowed")
	case *parse.IfNode:
		return errors.Join(checkTree(n.List), checkTree(n.ElseList))
	case *parse.WithNode:
		return errors.Join(checkTree(n.List), checkTree(n.ElseList))
	}
	return nil
}

// errTooLong stops a template that writes more than maxRendered.
var errTooLong = errors.New("renders more than 256 KiB")

type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return l.Buffer.Write(p)
}

// render executes t with d as data: the message text is a value the
// template prints, never template source.
func render(t *template.Template, d Data) (string, error) {
	var b limitedBuffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Samples for the shape check: the hostile one carries every character
// that could break out of a JSON string, a form value, a URL query or XML
// character data, and template syntax.
var (
	benign  = Data{To: "+15550100200", Text: "hello", From: "", IdempotencyKey: "key-1", CustomerID: "1"}
	hostile = Data{To: "+15550100200",
		Text:           "a\"b\\c'd}{\"x\":1,[]&y=2;z=3#f?g/h%2F%zz<i a=\"1\">j</i>&amp;]]><!--\n\r\t\x07\x01{{.To}}{{printf \"%s\" 1}}\u2028é😀",
		IdempotencyKey: "k\"&=#?<>'{}{{.From}}", CustomerID: "c\"&=#<>/"}
)

// checkTemplates renders url and body with benign and hostile samples and
// refuses a template whose output changes shape with the text: a URL whose
// scheme, host, path or query keys move; a JSON, form or XML body whose
// structure moves or that stops parsing.
func checkTemplates(st *state) error {
	samples := []Data{benign, hostile}
	for i := range samples {
		samples[i].From = st.from
	}
	var shapes [2]string
	for i, d := range samples {
		u, err := render(st.url, d)
		if err != nil {
			return sdk.Invalidf("url: %v", err)
		}
		if shapes[i], err = urlShape(u); err != nil {
			return sdk.Invalidf("url: %v (rendered %q)", err, clip(u, 200))
		}
	}
	if shapes[0] != shapes[1] {
		return sdk.Invalidf("url: message text changes the URL (%s became %s); escape fields with urlquery, e.g. {{urlquery .Text}}",
			shapes[0], shapes[1])
	}
	if st.body == nil {
		return nil
	}
	kind := bodyKind(st.contentType)
	for i, d := range samples {
		b, err := render(st.body, d)
		if err != nil {
			return sdk.Invalidf("body_template: %v", err)
		}
		if shapes[i], err = bodyShape(kind, b); err != nil {
			return sdk.Invalidf("body_template: with text %q the body is not %s: %v; escape fields with %s",
				clip(d.Text, 40), kind, err, escaper(kind))
		}
	}
	if shapes[0] != shapes[1] {
		return sdk.Invalidf("body_template: message text changes the %s structure; escape fields with %s", kind, escaper(kind))
	}
	return nil
}

func bodyKind(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "JSON"
	case mt == "application/x-www-form-urlencoded":
		return "form"
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		return "XML"
	}
	return "text" // no structure to protect; sent as rendered
}

func escaper(kind string) string {
	switch kind {
	case "JSON":
		return "json, e.g. {{json .Text}}"
	case "form":
		return "urlquery, e.g. text={{urlquery .Text}}"
	case "XML":
		return "xml, e.g. <text>{{xml .Text}}</text>"
	}
	return "a function for the format"
}

// urlShape: an absolute http(s) URL; its scheme, host, number of path
// segments (a value escaped with urlquery may sit in the path, an
// unescaped "/" adds a segment) and the sorted names of its query
// parameters.
func urlShape(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("want an absolute http or https URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("query: %v", err)
	}
	keys := make([]string, 0, len(q))
	for k, v := range q {
		keys = append(keys, fmt.Sprintf("%s×%d", k, len(v)))
	}
	slices.Sort(keys)
	return fmt.Sprintf("%s://%s/%d segments?%s#%v", u.Scheme, u.Host, strings.Count(u.EscapedPath(), "/"),
		strings.Join(keys, "&"), u.Fragment != ""), nil
}

// bodyShape is the structure of a body with the values left out.
func bodyShape(kind, body string) (string, error) {
	switch kind {
	case "JSON":
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		if _, err := dec.Token(); err != io.EOF {
			return "", fmt.Errorf("trailing data after the JSON value")
		}
		var b strings.Builder
		jsonShape(&b, v)
		return b.String(), nil
	case "form":
		q, err := url.ParseQuery(body)
		if err != nil {
			return "", err
		}
		keys := make([]string, 0, len(q))
		for k, v := range q {
			keys = append(keys, fmt.Sprintf("%s×%d", k, len(v)))
		}
		slices.Sort(keys)
		return strings.Join(keys, "&"), nil
	case "XML":
		dec := xml.NewDecoder(strings.NewReader(body))
		var b strings.Builder
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				return b.String(), nil
			}
			if err != nil {
				return "", err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				fmt.Fprintf(&b, "<%s", t.Name.Local)
				for _, a := range t.Attr {
					fmt.Fprintf(&b, " %s", a.Name.Local)
				}
				b.WriteString(">")
			case xml.EndElement:
				fmt.Fprintf(&b, "</%s>", t.Name.Local)
			case xml.Comment, xml.ProcInst, xml.Directive:
				fmt.Fprintf(&b, "%s", reflect.TypeOf(t).Name())
			}
		}
	}
	return "", nil
}

func jsonShape(b *strings.Builder, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("{")
		for _, k := range keys {
			fmt.Fprintf(b, "%q:", k)
			jsonShape(b, v[k])
			b.WriteString(",")
		}
		b.WriteString("}")
	case []any:
		b.WriteString("[")
		for _, e := range v {
			jsonShape(b, e)
			b.WriteString(",")
		}
		b.WriteString("]")
	case string:
		b.WriteString("s")
	case json.Number:
		b.WriteString("n")
	case bool:
		b.WriteString("b")
	case nil:
		b.WriteString("null")
	}
}
