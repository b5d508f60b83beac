package core

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ in, cc, want string }{
		{"+48 601 234 567", "", "+48601234567"},
		{"0048-601-234-567", "", "+48601234567"},
		{"(601) 234 567", "48", "+48601234567"},
		{"0601234567", "48", "+48601234567"},
		{"", "", ""},
	} {
		got, err := NormalizePhone(tc.in, tc.cc)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q,%q) = %q, %v; want %q", tc.in, tc.cc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"601234567", "+1234", "+0123456789", "call me", "+48 601\x00234", "+1234567890123456", "12+34"} {
		if got, err := NormalizePhone(bad, ""); err == nil {
			t.Errorf("NormalizePhone(%q) = %q; want an error", bad, got)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
	}{
		{"12.34", "USD", 1234}, {"12,50", "EUR", 1250}, {"1,234.56", "USD", 123456}, {"1,234", "USD", 123400},
		{"-3", "PLN", -300}, {"0.005", "USD", 1}, {"0.004", "USD", 0}, {"1.2345", "BHD", 1235},
		{"500", "JPY", 500}, {"499.6", "JPY", 500}, {"+7.1", "usd", 710}, {"1 000,5", "PLN", 100050}, {".5", "USD", 50},
	} {
		got, err := ParseAmount(tc.in, tc.cur)
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q,%q) = %d, %v; want %d", tc.in, tc.cur, got, err, tc.want)
		}
	}
	for _, tc := range [][2]string{{"", "USD"}, {"abc", "USD"}, {"1.2.3", "USD"}, {"12", "XXX"}, {"99999999999999999999", "USD"}, {"1e5", "USD"}, {"-", "USD"}, {".", "USD"}} {
		if got, err := ParseAmount(tc[0], tc[1]); err == nil {
			t.Errorf("ParseAmount(%q,%q) = %d; want an error", tc[0], tc[1], got)
		}
	}
	if s := FormatAmount(-123456, "USD"); s != "-1234.56" {
		t.Errorf("FormatAmount = %q", s)
	}
	if s := FormatAmount(1235, "BHD"); s != "1.235" {
		t.Errorf("FormatAmount = %q", s)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.34", "1,234.56", "-0,5", "1 000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(s, "USD")
		if err != nil {
			return
		}
		// What parses must print back to a value that parses to itself.
		back, err := ParseAmount(FormatAmount(v, "USD"), "USD")
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, FormatAmount(v, "USD"), back, err)
		}
	})
}

func TestCustomerNormalize(t *testing.T) {
	c := Customer{
		ExternalID: "  42 ", Name: "  Łukasz   Wiśniewski ", Emails: []string{" Lukasz@Example.PL", "lukasz@example.pl"},
		Phones: []string{"+48 601 234 567"}, Tags: []string{"VIP", "vip", "plan:gold"}, TimeZone: "Europe/Warsaw",
		Attributes: map[string]any{"score": 3, "note": "x", "ok": true},
	}
	if err := c.Normalize(""); err != nil {
		t.Fatal(err)
	}
	if c.ExternalID != "42" || c.Name != "Łukasz Wiśniewski" || len(c.Emails) != 1 || c.Emails[0] != "lukasz@example.pl" ||
		c.Phones[0] != "+48601234567" || strings.Join(c.Tags, ",") != "plan:gold,vip" || c.Attributes["score"] != 3.0 {
		t.Fatalf("normalized: %+v", c)
	}
	for _, tc := range []struct {
		c     Customer
		field string
	}{
		{Customer{Emails: []string{"not-an-email"}}, "emails[0]"},
		{Customer{Emails: []string{"a@b.c", "Jan <jan@x.pl>"}}, "emails[1]"},
		{Customer{Phones: []string{"12"}}, "phones[0]"},
		{Customer{Name: "bad\x00name"}, "name"},
		{Customer{Name: "\xff\xfe"}, "name"},
		{Customer{Name: strings.Repeat("a", MaxNameLen+1)}, "name"},
		{Customer{TimeZone: "Nowhere/Land"}, "time_zone"},
		{Customer{Tags: []string{"<script>"}}, "tags[0]"},
		{Customer{Attributes: map[string]any{"x": []int{1}}}, "attributes.x"},
		{Customer{Attributes: map[string]any{"": 1}}, "attributes"},
		{Customer{Address: Address{City: "a\nb"}}, "address.city"},
	} {
		err := tc.c.Normalize("")
		if !errors.Is(err, ErrInvalid) || ErrorField(err) != tc.field {
			t.Errorf("Normalize(%+v) = %v (field %q); want ErrInvalid on %q", tc.c, err, ErrorField(err), tc.field)
		}
	}
}

func TestInteractionNormalize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := Interaction{CustomerID: 1, Type: " Purchase ", Amount: 100, Currency: "eur", Channel: "Web"}
	if err := in.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if in.Type != TypePurchase || in.Currency != "EUR" || !in.Time.Equal(now) || in.Channel != "web" {
		t.Fatalf("normalized: %+v", in)
	}
	for _, tc := range []struct {
		in    Interaction
		field string
	}{
		{Interaction{CustomerID: 1}, "type"},
		{Interaction{Type: "note"}, "customer_id"},
		{Interaction{CustomerID: 1, Type: "bad type!"}, "type"},
		{Interaction{CustomerID: 1, Type: "purchase", Amount: 5}, "currency"},
		{Interaction{CustomerID: 1, Type: "purchase", Amount: 5, Currency: "ZZZ"}, "currency"},
		{Interaction{CustomerID: 1, Type: "note", Time: time.Date(1200, 1, 1, 0, 0, 0, 0, time.UTC)}, "time"},
		{Interaction{CustomerID: 1, Type: "note", Text: "\xff"}, "text"},
		{Interaction{CustomerID: 1, Type: "note", Properties: map[string]string{"k": strings.Repeat("v", 5000)}}, "properties.k"},
	} {
		err := tc.in.Normalize(now)
		if !errors.Is(err, ErrInvalid) || ErrorField(err) != tc.field {
			t.Errorf("Normalize(%+v) = %v; want ErrInvalid on %q", tc.in, err, tc.field)
		}
	}
}

func TestMergeCustomer(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := Customer{ID: 7, ExternalID: "x", Name: "Old", Emails: []string{"a@x.io"}, Tags: []string{"vip"},
		Attributes: map[string]any{"a": 1.0}, Consent: map[Channel]Consent{ChannelEmail: {Granted: true, At: at, Source: "import"}},
		CreatedAt: at}
	in := Customer{ExternalID: "x", Emails: []string{"b@x.io"}, Tags: []string{"new"}, Attributes: map[string]any{"b": 2.0},
		Consent: map[Channel]Consent{ChannelEmail: {Granted: true, At: at.AddDate(1, 0, 0)}, ChannelSMS: {Granted: false, At: at}}}
	out := MergeCustomer(stored, in)
	if out.ID != 7 || out.Name != "Old" || strings.Join(out.Emails, ",") != "b@x.io,a@x.io" || strings.Join(out.Tags, ",") != "new,vip" ||
		out.Attributes["a"] != 1.0 || out.Attributes["b"] != 2.0 || !out.Consent[ChannelEmail].At.Equal(at) || out.Consent[ChannelSMS].Granted {
		t.Fatalf("merged: %+v", out)
	}
	if stored.Attributes["b"] != nil {
		t.Fatal("merge changed the stored record's map")
	}
}

func TestIDText(t *testing.T) {
	var id ID
	if err := id.UnmarshalText([]byte("123")); err != nil || id != 123 {
		t.Fatal(id, err)
	}
	for _, bad := range []string{"", "0", "-1", "abc", "18446744073709551616"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseID(%q) = %v", bad, err)
		}
	}
}
