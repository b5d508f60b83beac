package importer

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/retain-crm/retain/core"
)

// Mapping says how a file's columns become fields. Every key is optional;
// docs/import.md documents each one. The zero Mapping detects and guesses
// everything.
type Mapping struct {
	Kind      core.ImportKind `toml:"kind,omitempty"`      // customers or interactions (the job's kind wins)
	Format    string          `toml:"format,omitempty"`    // auto, csv, jsonl
	Delimiter string          `toml:"delimiter,omitempty"` // auto, ",", ";", "\t", "|", "whitespace"
	Encoding  string          `toml:"encoding,omitempty"`  // auto, utf-8, utf-16le, utf-16be, windows-1252, windows-1251
	Header    *bool           `toml:"header,omitempty"`    // unset: detect
	// Guess fills fields the mapping does not name from well-known header
	// names. Unset means true.
	Guess *bool `toml:"guess,omitempty"`
	// Source namespaces derived idempotency keys, so that two shops' invoice
	// 1001 stay two interactions.
	Source string `toml:"source,omitempty"`

	TimeLayout string `toml:"time_layout,omitempty"` // Go layout or "unix"; unset: auto per value
	TimeZone   string `toml:"time_zone,omitempty"`   // IANA zone of times written without an offset
	Currency   string `toml:"currency,omitempty"`    // used when no currency column or the cell is empty
	Type       string `toml:"type,omitempty"`        // interaction type when no type column (default purchase)
	Channel    string `toml:"channel,omitempty"`     // channel when no channel column

	TagSeparator string   `toml:"tag_separator,omitempty"` // splits a tags cell; default ","
	AddTags      []string `toml:"add_tags,omitempty"`      // tags given to every imported (or created) customer

	// Columns maps a field name to a column: its header name (a string), its
	// 1-based position (an integer), or a list of them for emails, phones and
	// tags.
	Columns map[string]any `toml:"columns,omitempty"`
	// Types says how attributes.<name> cells are stored: string (default),
	// number or bool.
	Types map[string]string `toml:"types,omitempty"`
	Rules Rules             `toml:"rules,omitempty"`
}

// Rules handle what real order files contain besides plain purchases.
type Rules struct {
	// RefundIfOrderKeyPrefix makes an order whose key starts with this prefix
	// a refund (Online Retail: "C" marks a cancellation).
	RefundIfOrderKeyPrefix string `toml:"refund_if_order_key_prefix,omitempty"`
	// NegativeQuantity: "refund" (default) makes an order whose quantities sum
	// below zero a refund; "reject" rejects lines with a negative quantity;
	// "keep" stores them as they are.
	NegativeQuantity string `toml:"negative_quantity,omitempty"`
	// ZeroPrice: "keep" (default) or "reject" lines whose unit price is 0.
	ZeroPrice string `toml:"zero_price,omitempty"`
	// NegativePrice: "reject" (default) or "keep" lines with a unit price
	// below zero (Online Retail's "Adjust bad debt").
	NegativePrice string `toml:"negative_price,omitempty"`
	// OrderAmount, when an amount column is mapped and rows are grouped by
	// order: "sum" (default) adds the rows' amounts, "first" takes the first
	// row's (for files that repeat the order total on every line).
	OrderAmount string `toml:"order_amount,omitempty"`
	// KeepFloatIDs keeps ids such as "17850.0" as written; by default an id
	// that is an integer written as a float loses its ".0".
	KeepFloatIDs bool `toml:"keep_float_ids,omitempty"`
}

// ParseMapping reads a mapping file. Unknown keys are errors, so a typo
// never silently maps nothing.
func ParseMapping(text string) (*Mapping, error) {
	var m Mapping
	md, err := toml.Decode(text, &m)
	if err != nil {
		return nil, core.Invalidf("mapping: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, core.Invalidf("mapping: unknown key %s", strings.Join(keys, ", "))
	}
	return &m, nil
}

// TOML writes the mapping back as a mapping file (stored with a job).
func (m *Mapping) TOML() string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(m); err != nil {
		return ""
	}
	return b.String()
}

// The fields a column can map to. Prefix fields (attributes.x, consent.x,
// properties.x, customer.x) are checked separately.
var (
	customerFields = []string{
		"external_id", "name", "first_name", "last_name", "email", "phone",
		"address.line1", "address.line2", "address.city", "address.region",
		"address.postal_code", "address.country", "locale", "time_zone", "tags",
	}
	interactionFields = []string{
		"customer_external_id", "order_key", "idempotency_key", "type", "time",
		"amount", "quantity", "unit_price", "currency", "channel", "text", "sku", "item_name",
	}
	multiFields = map[string]bool{"email": true, "phone": true, "tags": true}
	// fieldAliases are other spellings accepted in [columns].
	fieldAliases = map[string]string{
		"emails": "email", "phones": "phone", "customer_id": "customer_external_id",
		"customer.external_id": "customer_external_id", "order_id": "order_key", "country": "address.country",
		"city": "address.city", "postal_code": "address.postal_code", "zip": "address.postal_code",
		"region": "address.region", "description": "item_name", "price": "unit_price",
	}
)

// headerAliases are the header names guessed for each field, in the
// normalized form of normHeader. Order matters: a column goes to the first
// field that claims it.
var headerAliases = []struct {
	kind  core.ImportKind // "" for both
	field string
	names []string
}{
	{core.ImportCustomers, "external_id", []string{"externalid", "customerid", "customerno", "customernumber", "custid", "clientid", "memberid", "userid", "accountid", "id"}},
	{core.ImportInteractions, "customer_external_id", []string{"customerexternalid", "customerid", "customerno", "customernumber", "custid", "clientid", "memberid", "userid", "accountid", "externalid", "customer"}},
	{core.ImportInteractions, "idempotency_key", []string{"idempotencykey", "eventid"}},
	{core.ImportInteractions, "order_key", []string{"orderkey", "invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "orderno", "ordernumber", "order", "transactionid"}},
	{core.ImportInteractions, "time", []string{"time", "date", "invoicedate", "orderdate", "timestamp", "datetime", "createdat", "occurredat", "eventtime", "purchasedate"}},
	{core.ImportInteractions, "amount", []string{"amount", "total", "totalamount", "ordertotal", "revenue", "sales", "value", "dollarvalue"}},
	{core.ImportInteractions, "unit_price", []string{"unitprice", "price", "itemprice"}},
	{core.ImportInteractions, "quantity", []string{"quantity", "qty", "units"}},
	{core.ImportInteractions, "sku", []string{"sku", "stockcode", "productid", "productcode", "itemid"}},
	{core.ImportInteractions, "item_name", []string{"itemname", "description", "product", "productname", "item"}},
	{core.ImportInteractions, "currency", []string{"currency", "currencycode"}},
	{core.ImportInteractions, "type", []string{"type", "eventtype", "event", "interactiontype"}},
	{core.ImportInteractions, "channel", []string{"channel"}},
	{core.ImportInteractions, "text", []string{"text", "note", "notes", "message", "comment", "body"}},
	{"", "name", []string{"name", "fullname", "customername"}},
	{"", "first_name", []string{"firstname", "givenname", "first"}},
	{"", "last_name", []string{"lastname", "surname", "familyname", "last"}},
	{"", "email", []string{"email", "emails", "emailaddress", "mail"}},
	{"", "phone", []string{"phone", "phones", "telephone", "tel", "mobile", "phonenumber", "cell"}},
	{"", "address.line1", []string{"addressline1", "address1", "address", "street"}},
	{"", "address.line2", []string{"addressline2", "address2"}},
	{"", "address.city", []string{"addresscity", "city", "town"}},
	{"", "address.region", []string{"addressregion", "region", "state", "province", "county"}},
	{"", "address.postal_code", []string{"addresspostalcode", "postalcode", "postcode", "zip", "zipcode"}},
	{"", "address.country", []string{"addresscountry", "country", "countrycode"}},
	{"", "locale", []string{"locale", "language", "lang"}},
	{"", "time_zone", []string{"timezone", "tz"}},
	{"", "tags", []string{"tags", "tag", "labels"}},
}

// aliasIndex is every guessable header name (for header detection).
var aliasIndex = func() map[string]bool {
	m := map[string]bool{}
	for _, a := range headerAliases {
		for _, n := range a.names {
			m[n] = true
		}
	}
	return m
}()

// colRef is a resolved column: an index into CSV fields, or a key of a
// JSONL object.
type colRef struct {
	idx  int
	key  string
	desc string // for messages: the header name or "column 3"
}

func (c *colRef) get(r *record) string {
	if c == nil {
		return ""
	}
	if r.obj != nil {
		return r.obj[c.key]
	}
	if c.idx < len(r.fields) {
		return r.fields[c.idx]
	}
	return ""
}

// named is a column for a keyed field (attributes.x, properties.x, consent.x).
type named struct {
	name string
	col  *colRef
	typ  string
}

// custPlan maps columns to a customer (or, with the customer. prefix, to the
// stub created for an interaction's unknown customer).
type custPlan struct {
	externalID, name, first, last               *colRef
	emails, phones, tags                        []*colRef
	line1, line2, city, region, postal, country *colRef
	locale, timeZone                            *colRef
	attrs, consent                              []named
	any                                         bool // some column maps to the customer
}

// plan is a compiled mapping for one file.
type plan struct {
	kind    core.ImportKind
	m       Mapping
	cust    custPlan
	loc     *time.Location
	columns map[string]string // field -> column description, for the UI
	refs    []fieldRef        // every assignment in order, for Inspect

	custExt, orderKey, idem, typ, tm, amount, qty, price *colRef
	currency, channel, text, sku, itemName               *colRef
	props                                                []named
	items                                                bool // rows carry line items
	tagSep                                               string
	ncols                                                int // expected fields per CSV row (0: not checked)
}

// compile resolves the mapping against the file's columns. header is nil
// for JSONL (keys are looked up by name) and the header row (or nil names
// for a headerless file) for CSV.
func compile(kind core.ImportKind, m Mapping, det Detection, defTZ string) (*plan, error) {
	p := &plan{kind: kind, m: m, columns: map[string]string{}, tagSep: m.TagSeparator}
	if p.tagSep == "" {
		p.tagSep = ","
	}
	tz := m.TimeZone
	if tz == "" {
		tz = defTZ
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, core.FieldErr("time_zone", "unknown time zone %q", tz)
	}
	p.loc = loc
	if err := checkRules(&p.m.Rules); err != nil {
		return nil, err
	}
	jsonl := det.Format == FormatJSONL
	if !jsonl {
		p.ncols = len(det.Columns)
	}
	// Header names to positions; a duplicate name resolves to its first
	// column, and naming it in a mapping is an error.
	pos := map[string]int{}
	dup := map[string]bool{}
	if !jsonl && det.Header {
		for i, h := range det.Columns {
			h = strings.TrimSpace(h)
			if _, ok := pos[h]; ok {
				dup[h] = true
				continue
			}
			pos[h] = i
		}
	}
	resolve := func(field string, v any) (*colRef, error) {
		switch x := v.(type) {
		case int64:
			if jsonl {
				return nil, core.FieldErr("columns."+field, "a JSONL file has no column positions; name the key")
			}
			if x < 1 || int(x) > len(det.Columns) {
				return nil, core.FieldErr("columns."+field, "column %d does not exist (the file has %d)", x, len(det.Columns))
			}
			return &colRef{idx: int(x) - 1, desc: "column " + strconv.Itoa(int(x))}, nil
		case string:
			if jsonl {
				return &colRef{key: x, desc: x}, nil
			}
			if dup[x] {
				return nil, core.FieldErr("columns."+field, "header %q appears more than once; map it by position", x)
			}
			i, ok := pos[x]
			if !ok {
				// Be forgiving about case and punctuation.
				for h, j := range pos {
					if normHeader(h) == normHeader(x) {
						i, ok = j, true
						break
					}
				}
			}
			if !ok {
				return nil, core.FieldErr("columns."+field, "no column named %q", x)
			}
			return &colRef{idx: i, desc: det.Columns[i]}, nil
		}
		return nil, core.FieldErr("columns."+field, "must be a header name, a 1-based column number or a list of them")
	}

	used := map[string]bool{} // column descriptions taken by explicit mapping
	set := func(field string, ref *colRef) error {
		return p.assign(field, ref)
	}
	names := make([]string, 0, len(m.Columns))
	for k := range m.Columns {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, field := range names {
		v := m.Columns[field]
		vals := []any{v}
		if list, ok := v.([]any); ok {
			vals = list
			if !multiFields[canonField(field)] && !multiFields[strings.TrimPrefix(canonField(field), "customer.")] {
				return nil, core.FieldErr("columns."+field, "only email, phone and tags take a list of columns")
			}
		}
		for _, one := range vals {
			ref, err := resolve(field, one)
			if err != nil {
				return nil, err
			}
			if err := set(field, ref); err != nil {
				return nil, err
			}
			used[ref.desc] = true
		}
	}
	if m.Guess == nil || *m.Guess {
		p.guess(det, used)
	}
	return p, p.validate()
}

func checkRules(r *Rules) error {
	check := func(name string, v *string, def string, allowed ...string) error {
		if *v == "" {
			*v = def
		}
		if !slices.Contains(allowed, *v) {
			return core.FieldErr("rules."+name, "must be one of %s", strings.Join(allowed, ", "))
		}
		return nil
	}
	if err := check("negative_quantity", &r.NegativeQuantity, "refund", "refund", "reject", "keep"); err != nil {
		return err
	}
	if err := check("zero_price", &r.ZeroPrice, "keep", "keep", "reject"); err != nil {
		return err
	}
	if err := check("negative_price", &r.NegativePrice, "reject", "reject", "keep"); err != nil {
		return err
	}
	return check("order_amount", &r.OrderAmount, "sum", "sum", "first")
}

func canonField(f string) string {
	f = strings.TrimSpace(f)
	if a, ok := fieldAliases[f]; ok {
		return a
	}
	if rest, ok := strings.CutPrefix(f, "customer."); ok {
		if a, ok := fieldAliases[rest]; ok && a != "customer_external_id" {
			return "customer." + a
		}
	}
	return f
}

// assign sets one field of the plan.
func (p *plan) assign(field string, ref *colRef) (err error) {
	field = canonField(field)
	p.columns[field] = ref.desc
	defer func() {
		if err == nil {
			p.refs = append(p.refs, fieldRef{field, ref})
		}
	}()
	cust := p.kind == core.ImportCustomers
	cf := field
	if !cust {
		rest, ok := strings.CutPrefix(field, "customer.")
		if ok {
			cf = rest
		} else {
			cf = ""
		}
	}
	if cf != "" {
		return p.cust.assign(cf, ref, p.m.Types, field)
	}
	if cust {
		return core.FieldErr("columns."+field, "unknown field for a customers import (fields: %s, attributes.<name>, consent.<channel>)", strings.Join(customerFields, ", "))
	}
	slot := map[string]**colRef{
		"customer_external_id": &p.custExt, "order_key": &p.orderKey, "idempotency_key": &p.idem,
		"type": &p.typ, "time": &p.tm, "amount": &p.amount, "quantity": &p.qty, "unit_price": &p.price,
		"currency": &p.currency, "channel": &p.channel, "text": &p.text, "sku": &p.sku, "item_name": &p.itemName,
	}
	if s, ok := slot[field]; ok {
		*s = ref
		return nil
	}
	if name, ok := strings.CutPrefix(field, "properties."); ok && name != "" {
		p.props = append(p.props, named{name: name, col: ref})
		return nil
	}
	return core.FieldErr("columns."+field, "unknown field for an interactions import (fields: %s, properties.<name>, customer.<customer field>)", strings.Join(interactionFields, ", "))
}

func (c *custPlan) assign(field string, ref *colRef, types map[string]string, full string) error {
	c.any = true
	slot := map[string]**colRef{
		"external_id": &c.externalID, "name": &c.name, "first_name": &c.first, "last_name": &c.last,
		"address.line1": &c.line1, "address.line2": &c.line2, "address.city": &c.city,
		"address.region": &c.region, "address.postal_code": &c.postal, "address.country": &c.country,
		"locale": &c.locale, "time_zone": &c.timeZone,
	}
	if s, ok := slot[field]; ok {
		*s = ref
		return nil
	}
	switch field {
	case "email":
		c.emails = append(c.emails, ref)
		return nil
	case "phone":
		c.phones = append(c.phones, ref)
		return nil
	case "tags":
		c.tags = append(c.tags, ref)
		return nil
	}
	if name, ok := strings.CutPrefix(field, "attributes."); ok && name != "" {
		typ := types[full]
		if typ == "" {
			typ = types[field]
		}
		switch typ {
		case "", "string", "number", "bool":
		default:
			return core.FieldErr("types."+full, "must be string, number or bool")
		}
		c.attrs = append(c.attrs, named{name: name, col: ref, typ: typ})
		return nil
	}
	if ch, ok := strings.CutPrefix(field, "consent."); ok && ch != "" {
		ch = strings.TrimSuffix(ch, ".granted") // JSONL export writes consent.<channel>.granted
		c.consent = append(c.consent, named{name: ch, col: ref})
		return nil
	}
	return core.FieldErr("columns."+full, "unknown customer field (fields: %s, attributes.<name>, consent.<channel>)", strings.Join(customerFields, ", "))
}

// guess maps well-known header names (or, for JSONL, keys) to fields the
// mapping left unset: first columns named exactly like a field (an export of
// ours), then the aliases of headerAliases.
func (p *plan) guess(det Detection, used map[string]bool) {
	if !det.Header && det.Format != FormatJSONL {
		return
	}
	taken := func(field string) bool {
		_, ok := p.columns[field]
		return ok
	}
	cust := p.kind == core.ImportCustomers
	ref := func(i int, h string) *colRef {
		if det.Format == FormatJSONL {
			return &colRef{idx: -1, key: h, desc: h}
		}
		return &colRef{idx: i, desc: h}
	}
	for i, h := range det.Columns {
		if used[h] {
			continue
		}
		exact := canonField(strings.TrimSpace(h))
		if !cust && !strings.HasPrefix(exact, "customer.") && slices.Contains(customerFields, exact) && exact != "external_id" {
			exact = "customer." + exact
		}
		if exact != "" && !taken(exact) && knownField(p.kind, exact) {
			if p.assign(exact, ref(i, h)) == nil {
				used[h] = true
			}
		}
	}
	for i, h := range det.Columns {
		if used[h] {
			continue
		}
		n := normHeader(h)
	alias:
		for _, a := range headerAliases {
			if a.kind != "" && a.kind != p.kind {
				continue
			}
			field := a.field
			if !cust && a.kind == "" {
				field = "customer." + field
			}
			for _, name := range a.names {
				if name == n {
					if taken(field) && !multiFields[a.field] {
						continue alias
					}
					if p.assign(field, ref(i, h)) == nil {
						used[h] = true
					}
					break alias
				}
			}
		}
	}
}

func knownField(kind core.ImportKind, f string) bool {
	if kind == core.ImportInteractions {
		if slices.Contains(interactionFields, f) || strings.HasPrefix(f, "properties.") && len(f) > len("properties.") {
			return true
		}
		rest, ok := strings.CutPrefix(f, "customer.")
		if !ok {
			return false
		}
		f = rest
	}
	if slices.Contains(customerFields, f) || strings.HasPrefix(f, "attributes.") && len(f) > len("attributes.") {
		return true
	}
	// consent.<channel>, or consent.<channel>.granted as a JSONL export has it.
	ch, ok := strings.CutPrefix(f, "consent.")
	ch = strings.TrimSuffix(ch, ".granted")
	return ok && ch != "" && !strings.Contains(ch, ".")
}

// validate checks the plan has what its kind needs.
func (p *plan) validate() error {
	if p.kind == core.ImportCustomers {
		if p.cust.externalID == nil {
			return core.FieldErr("columns.external_id", "map a column to external_id: customers are matched by it")
		}
		return nil
	}
	if p.custExt == nil {
		return core.FieldErr("columns.customer_external_id", "map a column to customer_external_id: interactions belong to customers")
	}
	if p.tm == nil {
		return core.FieldErr("columns.time", "map a column to time")
	}
	if p.m.Type != "" {
		if t := strings.ToLower(strings.TrimSpace(p.m.Type)); t == "" || strings.ContainsFunc(t, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
			return core.FieldErr("type", "must be a lower-case word")
		}
	}
	if p.typ == nil && p.m.Type == "" && p.amount == nil && p.price == nil {
		return core.FieldErr("type", "map a type column or set type (only files with amounts or prices default to purchase)")
	}
	p.items = p.sku != nil || p.itemName != nil || p.price != nil || p.qty != nil && p.amount == nil
	if p.m.TimeLayout != "" && p.m.TimeLayout != "unix" {
		if _, err := time.Parse(p.m.TimeLayout, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(p.m.TimeLayout)); err != nil {
			return core.FieldErr("time_layout", "%q is not a Go time layout (write 2006-01-02 15:04:05 style)", p.m.TimeLayout)
		}
	}
	return nil
}

// describe lists the mapping in use, for the UI and the report.
func (p *plan) describe() map[string]string { return p.columns }
