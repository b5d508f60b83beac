package importer

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
)

// ExportSource is what an export reads; core.Store satisfies it.
type ExportSource interface {
	ScanCustomers(ctx context.Context, fn func(core.Customer) error) error
	ScanAllInteractions(ctx context.Context, fn func(core.Interaction) error) error
}

// neutralize defuses a cell a spreadsheet would run as a formula (OWASP
// "CSV Injection"): a cell starting with = + - @ tab or CR gets a leading
// single quote, which spreadsheets show as text and do not evaluate.
func neutralize(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// Neutralize is neutralize for other exports (segment members), so every
// CSV retain writes is defused the same way.
func Neutralize(s string) string { return neutralize(s) }

func neutralizeAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = neutralize(s)
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ExportCustomers writes every customer as CSV or JSONL and returns how many.
// The CSV's headers are the importer's field names (attributes and consent
// get a column each), so an export imports back as it is; text cells are
// neutralized against formula injection. JSONL lines are core.Customer JSON.
func ExportCustomers(ctx context.Context, src ExportSource, w io.Writer, format string) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err := src.ScanCustomers(ctx, func(c core.Customer) error {
			n++
			return enc.Encode(c)
		})
		if err != nil {
			return n, err
		}
	case FormatCSV:
		// A first pass finds the attribute and consent columns.
		attrs, chans := map[string]bool{}, map[core.Channel]bool{}
		err := src.ScanCustomers(ctx, func(c core.Customer) error {
			for k := range c.Attributes {
				attrs[k] = true
			}
			for ch := range c.Consent {
				chans[ch] = true
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		ak := slices.Sorted(maps.Keys(attrs))
		ck := slices.Sorted(maps.Keys(chans))
		head := []string{"external_id", "name", "email", "phone", "address.line1", "address.line2",
			"address.city", "address.region", "address.postal_code", "address.country", "locale", "time_zone", "tags"}
		for _, k := range ak {
			head = append(head, "attributes."+k)
		}
		for _, ch := range ck {
			head = append(head, "consent."+string(ch))
		}
		head = append(head, "created_at", "updated_at", "first_seen", "last_seen", "retain_id")
		cw := csv.NewWriter(bw)
		if err := cw.Write(neutralizeAll(head)); err != nil {
			return 0, err
		}
		row := make([]string, 0, len(head))
		err = src.ScanCustomers(ctx, func(c core.Customer) error {
			row = append(row[:0], c.ExternalID, c.Name, strings.Join(c.Emails, ";"), strings.Join(c.Phones, ";"),
				c.Address.Line1, c.Address.Line2, c.Address.City, c.Address.Region, c.Address.PostalCode,
				c.Address.Country, c.Locale, c.TimeZone, strings.Join(c.Tags, ","))
			for _, k := range ak {
				row = append(row, core.AttributeText(c.Attributes[k]))
			}
			for i := range row {
				row[i] = neutralize(row[i])
			}
			for _, ch := range ck {
				v := ""
				if cs, ok := c.Consent[ch]; ok {
					v = "no"
					if cs.Granted {
						v = "yes"
					}
				}
				row = append(row, v)
			}
			row = append(row, formatTime(c.CreatedAt), formatTime(c.UpdatedAt), formatTime(c.FirstSeen), formatTime(c.LastSeen), c.ID.String())
			n++
			return cw.Write(row)
		})
		if err != nil {
			return n, err
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	default:
		return 0, core.FieldErr("format", "must be csv or jsonl")
	}
	return n, bw.Flush()
}

// exportItem is a line item with its price as a decimal.
type exportItem struct {
	SKU       string `json:"sku,omitempty"`
	Name      string `json:"name,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice string `json:"unit_price"`
}

// exportInteraction is an interaction as exported: amounts as decimals and
// the customer by external id, which is what the importer reads back.
type exportInteraction struct {
	CustomerExternalID string            `json:"customer_external_id"`
	Type               string            `json:"type"`
	Time               string            `json:"time"`
	Amount             string            `json:"amount,omitempty"`
	Currency           string            `json:"currency,omitempty"`
	Channel            string            `json:"channel,omitempty"`
	Text               string            `json:"text,omitempty"`
	IdempotencyKey     string            `json:"idempotency_key,omitempty"`
	Properties         map[string]string `json:"properties,omitempty"`
	Items              []exportItem      `json:"items,omitempty"`
	RetainID           core.ID           `json:"retain_id"`
	RetainCustomerID   core.ID           `json:"retain_customer_id"`
}

func toExport(in core.Interaction, ext string) exportInteraction {
	e := exportInteraction{
		CustomerExternalID: ext, Type: string(in.Type), Time: formatTime(in.Time),
		Currency: in.Currency, Channel: string(in.Channel), Text: in.Text,
		IdempotencyKey: in.IdempotencyKey, Properties: in.Properties,
		RetainID: in.ID, RetainCustomerID: in.CustomerID,
	}
	if in.Amount != 0 || in.Currency != "" {
		e.Amount = core.FormatAmount(in.Amount, in.Currency)
	}
	for _, it := range in.Items {
		e.Items = append(e.Items, exportItem{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPrice: core.FormatAmount(it.UnitPrice, in.Currency)})
	}
	return e
}

// ExportInteractions writes every interaction as CSV or JSONL, naming each
// customer by external id (customers without one are named by their retain
// id). In CSV the line items are one JSON cell.
func ExportInteractions(ctx context.Context, src ExportSource, w io.Writer, format string) (int, error) {
	if format != FormatCSV && format != FormatJSONL {
		return 0, core.FieldErr("format", "must be csv or jsonl")
	}
	ext := map[core.ID]string{}
	props := map[string]bool{}
	err := src.ScanCustomers(ctx, func(c core.Customer) error {
		if c.ExternalID != "" {
			ext[c.ID] = c.ExternalID
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	extOf := func(id core.ID) string {
		if e, ok := ext[id]; ok {
			return e
		}
		return "retain:" + id.String()
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	if format == FormatJSONL {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err := src.ScanAllInteractions(ctx, func(in core.Interaction) error {
			n++
			return enc.Encode(toExport(in, extOf(in.CustomerID)))
		})
		if err != nil {
			return n, err
		}
		return n, bw.Flush()
	}
	err = src.ScanAllInteractions(ctx, func(in core.Interaction) error {
		for k := range in.Properties {
			props[k] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	pk := slices.Sorted(maps.Keys(props))
	head := []string{"customer_external_id", "type", "time", "amount", "currency", "channel", "text", "idempotency_key", "items"}
	for _, k := range pk {
		head = append(head, "properties."+k)
	}
	head = append(head, "retain_id", "retain_customer_id")
	cw := csv.NewWriter(bw)
	if err := cw.Write(neutralizeAll(head)); err != nil {
		return 0, err
	}
	row := make([]string, 0, len(head))
	err = src.ScanAllInteractions(ctx, func(in core.Interaction) error {
		e := toExport(in, extOf(in.CustomerID))
		items := ""
		if len(e.Items) > 0 {
			b, _ := json.Marshal(e.Items)
			items = string(b)
		}
		row = append(row[:0], neutralize(e.CustomerExternalID), neutralize(e.Type), e.Time, e.Amount, neutralize(e.Currency),
			neutralize(e.Channel), neutralize(e.Text), neutralize(e.IdempotencyKey), neutralize(items))
		for _, k := range pk {
			row = append(row, neutralize(in.Properties[k]))
		}
		row = append(row, in.ID.String(), in.CustomerID.String())
		n++
		return cw.Write(row)
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
