package importer

import (
	"testing"
	"time"
)

func TestDetectEncoding(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a,b\n", EncUTF8},
		{"\xef\xbb\xbfa,b", EncUTF8BOM},
		{"\xff\xfea\x00", EncUTF16LE},
		{"\xfe\xff\x00a", EncUTF16BE},
		{"a\x00,\x00b\x00\n\x00", EncUTF16LE},
		{"M\xfcller;K\xf6ln\n", EncWin1252},
		{"\xc8\xe2\xe0\xed \xcf\xe5\xf2\xf0\xee\xe2\n", EncWin1251},
		{"Zo\xc3\xab\n\xe2\x82", EncUTF8}, // a rune cut off at the sample's end
	} {
		if got := detectEncoding([]byte(tc.in)); got != tc.want {
			t.Errorf("detectEncoding(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDetectDelimiterAndHeader(t *testing.T) {
	for _, tc := range []struct {
		lines  []string
		delim  string
		header bool
	}{
		{[]string{"a,b,c", "1,2,3"}, ",", false},
		{[]string{"name;email", "Ann;ann@example.com", "Bo;bo@example.com"}, ";", true},
		{[]string{"x\ty", "1\t2"}, "\t", false},
		{[]string{"id|name", "1|\"a|b\""}, "|", true},
		{[]string{" customer_id  date number_of_cds  dollar_value", " 00001 19970101  1   11.77"}, DelimWhitespace, true},
		{[]string{" 00001 19970101  1   11.77", " 00002 19970112  1   12.00"}, DelimWhitespace, false},
		{[]string{"justone", "column"}, ",", true},
	} {
		if got := detectDelimiter(tc.lines); got != tc.delim {
			t.Errorf("delimiter of %q = %q, want %q", tc.lines, got, tc.delim)
		}
	}
	if !detectHeader([]string{"Kunde", "Datum"}, []string{"x", "2024-01-01"}) || detectHeader([]string{"a", "1"}, []string{"b", "2"}) {
		t.Error("header detection")
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC)
	for _, s := range []string{"2010-12-01 08:26:00", "2010-12-01T08:26:00Z", "12/1/2010 08:26", "2010-12-01T09:26:00+01:00", "1291191960"} {
		got, ok := parseTimeAuto(s, nil)
		if !ok || !got.Equal(want) {
			t.Errorf("%q -> %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "2010-13-01", "99"} {
		if _, ok := parseTimeAuto(s, nil); ok {
			t.Errorf("%q parsed", s)
		}
	}
	if d, ok := parseTimeAuto("19970101", nil); !ok || d != time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("yyyymmdd: %v", d)
	}
}

func TestCleanIDAndNeutralize(t *testing.T) {
	for in, want := range map[string]string{"17850.0": "17850", " 42 ": "42", "1.5": "1.5", "A1.0": "A1.0", "00001": "00001"} {
		if got := cleanID(in, false); got != want {
			t.Errorf("cleanID(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@SUM": "'@SUM", "\tx": "'\tx", "\rx": "'\rx", "ok": "ok", "": ""} {
		if got := neutralize(in); got != want {
			t.Errorf("neutralize(%q) = %q", in, got)
		}
	}
}
