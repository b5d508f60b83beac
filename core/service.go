package core

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Service applies the domain rules (normalization, validation, merge
// semantics) on top of a Store and answers searches from an Index. The web
// handlers, the importer and the command line all go through it, so a rule
// holds the same way everywhere.
type Service struct {
	Store Store
	Index Index
	// Now is the clock; tests set it.
	Now func() time.Time
	// DefaultCallingCode is assumed for phone numbers written without a
	// country code (digits, no '+'); empty refuses such numbers.
	DefaultCallingCode string
}

// NewService returns a Service with the real clock.
func NewService(st Store, ix Index, defaultCallingCode string) *Service {
	return &Service{Store: st, Index: ix, Now: func() time.Time { return time.Now().UTC() }, DefaultCallingCode: defaultCallingCode}
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// CreateCustomer validates and stores a new customer.
func (s *Service) CreateCustomer(ctx context.Context, c Customer) (Customer, error) {
	c.ID = 0
	if err := c.Normalize(s.DefaultCallingCode); err != nil {
		return Customer{}, err
	}
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	c.FirstSeen, c.LastSeen = time.Time{}, time.Time{}
	stampConsent(&c, now, "api")
	return s.Store.CreateCustomer(ctx, c)
}

// UpsertCustomers validates a batch and creates or merges each customer by
// external id (see MergeCustomer). Invalid customers fail the whole call
// with a FieldError prefixed by their position; the importer validates rows
// one by one first so that one bad row never blocks the others.
func (s *Service) UpsertCustomers(ctx context.Context, in []Customer, source string) ([]Customer, []bool, error) {
	if len(in) > MaxBatch {
		return nil, nil, Invalidf("at most %d customers per batch", MaxBatch)
	}
	now := s.now()
	for i := range in {
		if err := s.PrepareUpsert(&in[i], now, source); err != nil {
			return nil, nil, prefixField(err, "customers", i)
		}
	}
	return s.Store.UpsertCustomers(ctx, in, MergeCustomer)
}

// PrepareUpsert normalizes one customer for UpsertCustomers; the importer
// calls it per row to reject bad rows individually.
func (s *Service) PrepareUpsert(c *Customer, now time.Time, source string) error {
	if c.ExternalID == "" {
		return FieldErr("external_id", "required to upsert")
	}
	if err := c.Normalize(s.DefaultCallingCode); err != nil {
		return err
	}
	c.ID = 0
	c.CreatedAt, c.UpdatedAt = now, now
	c.FirstSeen, c.LastSeen = time.Time{}, time.Time{}
	stampConsent(c, now, source)
	return nil
}

// MergeCustomer is the upsert rule: fields the incoming record sets win;
// emails, phones and tags are united (incoming first); attributes and
// consent are merged key by key. Identity and history fields stay.
func MergeCustomer(stored, in Customer) Customer {
	out := stored
	setIf := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setIf(&out.Name, in.Name)
	setIf(&out.Locale, in.Locale)
	setIf(&out.TimeZone, in.TimeZone)
	if !in.Address.IsZero() {
		out.Address = in.Address
	}
	out.Emails = union(in.Emails, stored.Emails)
	out.Phones = union(in.Phones, stored.Phones)
	out.Tags = union(stored.Tags, in.Tags)
	slices.Sort(out.Tags)
	if len(in.Attributes) > 0 {
		out.Attributes = maps.Clone(stored.Attributes)
		if out.Attributes == nil {
			out.Attributes = map[string]any{}
		}
		maps.Copy(out.Attributes, in.Attributes)
	}
	if len(in.Consent) > 0 {
		out.Consent = maps.Clone(stored.Consent)
		if out.Consent == nil {
			out.Consent = map[Channel]Consent{}
		}
		for ch, cs := range in.Consent {
			if old, ok := out.Consent[ch]; ok && old.Granted == cs.Granted {
				continue // unchanged: keep when it was first given
			}
			out.Consent[ch] = cs
		}
	}
	out.UpdatedAt = in.UpdatedAt
	return out
}

func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// stampConsent fills in the time and source of consent entries that lack them.
func stampConsent(c *Customer, now time.Time, source string) {
	for ch, cs := range c.Consent {
		if cs.At.IsZero() {
			cs.At = now
		}
		if cs.Source == "" {
			cs.Source = source
		}
		c.Consent[ch] = cs
	}
}

// GetCustomer returns one customer.
func (s *Service) GetCustomer(ctx context.Context, id ID) (Customer, error) {
	return s.Store.GetCustomer(ctx, id)
}

// CustomerPatch changes some fields of a customer; nil fields stay as they
// are. A non-nil empty value clears the field. Attributes and consent are
// merged key by key; an attribute set to null is removed.
type CustomerPatch struct {
	ExternalID *string              `json:"external_id,omitempty"`
	Name       *string              `json:"name,omitempty"`
	Emails     *[]string            `json:"emails,omitempty"`
	Phones     *[]string            `json:"phones,omitempty"`
	Address    *Address             `json:"address,omitempty"`
	Locale     *string              `json:"locale,omitempty"`
	TimeZone   *string              `json:"time_zone,omitempty"`
	Attributes map[string]any       `json:"attributes,omitempty"`
	Tags       *[]string            `json:"tags,omitempty"`
	AddTags    []string             `json:"add_tags,omitempty"`
	RemoveTags []string             `json:"remove_tags,omitempty"`
	Consent    map[Channel]*Consent `json:"consent,omitempty"`
}

// UpdateCustomer applies a patch atomically and validates the result.
func (s *Service) UpdateCustomer(ctx context.Context, id ID, p CustomerPatch, source string) (Customer, error) {
	now := s.now()
	return s.Store.UpdateCustomer(ctx, id, func(c *Customer) error {
		apply := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		apply(&c.ExternalID, p.ExternalID)
		apply(&c.Name, p.Name)
		apply(&c.Locale, p.Locale)
		apply(&c.TimeZone, p.TimeZone)
		if p.Emails != nil {
			c.Emails = slices.Clone(*p.Emails)
		}
		if p.Phones != nil {
			c.Phones = slices.Clone(*p.Phones)
		}
		if p.Address != nil {
			c.Address = *p.Address
		}
		if p.Tags != nil {
			c.Tags = slices.Clone(*p.Tags)
		}
		c.Tags = append(c.Tags, p.AddTags...)
		if len(p.RemoveTags) > 0 {
			c.Tags = slices.DeleteFunc(c.Tags, func(t string) bool {
				for _, r := range p.RemoveTags {
					if n, _ := NormalizeTag(r); n == t {
						return true
					}
				}
				return false
			})
		}
		for k, v := range p.Attributes {
			if c.Attributes == nil {
				c.Attributes = map[string]any{}
			}
			if v == nil {
				delete(c.Attributes, k)
			} else {
				c.Attributes[k] = v
			}
		}
		for ch, cs := range p.Consent {
			if c.Consent == nil {
				c.Consent = map[Channel]Consent{}
			}
			if cs == nil {
				delete(c.Consent, ch)
				continue
			}
			v := *cs
			if old, ok := c.Consent[ch]; ok && old.Granted == v.Granted && v.At.IsZero() {
				continue
			}
			if v.At.IsZero() {
				v.At = now
			}
			if v.Source == "" {
				v.Source = source
			}
			c.Consent[ch] = v
		}
		if err := c.Normalize(s.DefaultCallingCode); err != nil {
			return err
		}
		c.UpdatedAt = now
		return nil
	})
}

// ListCustomers returns a page of customers.
func (s *Service) ListCustomers(ctx context.Context, q CustomerQuery) (Page[Customer], error) {
	if err := checkLimit(&q.Limit); err != nil {
		return Page[Customer]{}, err
	}
	if q.Tag != "" {
		t, err := NormalizeTag(q.Tag)
		if err != nil {
			return Page[Customer]{}, FieldErr("tag", "%v", err)
		}
		q.Tag = t
	}
	return s.Store.ListCustomers(ctx, q)
}

// EraseCustomer removes a customer and their whole history for good.
func (s *Service) EraseCustomer(ctx context.Context, id ID) error {
	return s.Store.EraseCustomer(ctx, id)
}

// AppendInteractions validates and stores a batch of interactions. A bad
// interaction fails the whole batch with a FieldError naming its position,
// so a client never has to guess which half was stored.
func (s *Service) AppendInteractions(ctx context.Context, in []Interaction) ([]AppendResult, error) {
	if len(in) == 0 {
		return nil, Invalidf("no interactions given")
	}
	if len(in) > MaxBatch {
		return nil, Invalidf("at most %d interactions per batch", MaxBatch)
	}
	now := s.now()
	for i := range in {
		if err := s.PrepareInteraction(&in[i], now); err != nil {
			if len(in) == 1 {
				return nil, err
			}
			return nil, prefixField(err, "interactions", i)
		}
	}
	return s.Store.AppendInteractions(ctx, in)
}

// PrepareInteraction normalizes one interaction for AppendInteractions.
func (s *Service) PrepareInteraction(in *Interaction, now time.Time) error {
	in.ID = 0
	in.CreatedAt = now
	return in.Normalize(now)
}

// Timeline returns a page of a customer's history, newest first.
func (s *Service) Timeline(ctx context.Context, customerID ID, q TimelineQuery) (Page[Interaction], error) {
	if err := checkLimit(&q.Limit); err != nil {
		return Page[Interaction]{}, err
	}
	if _, err := s.Store.GetCustomer(ctx, customerID); err != nil {
		return Page[Interaction]{}, err
	}
	return s.Store.Timeline(ctx, customerID, q)
}

// Search runs a search; an empty query with no filters returns no hits.
func (s *Service) Search(ctx context.Context, q SearchQuery) (SearchResults, error) {
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 0 || q.Limit > 100 {
		return SearchResults{}, FieldErr("limit", "must be between 1 and 100")
	}
	if q.Offset < 0 || q.Offset > 10000 {
		return SearchResults{}, FieldErr("offset", "must be between 0 and 10000")
	}
	if len(q.Text) > 500 {
		return SearchResults{}, FieldErr("q", "at most 500 bytes")
	}
	switch q.Scope {
	case ScopeAll, ScopeCustomers, ScopeInteractions:
	default:
		return SearchResults{}, FieldErr("scope", "must be customers or interactions")
	}
	// The index keeps times as int64 nanoseconds (years 1678–2261); a
	// bound outside that cannot be expressed, so it is refused, not a 500.
	for _, b := range []struct {
		field string
		t     time.Time
	}{{"from", q.From}, {"to", q.To}} {
		if y := b.t.Year(); !b.t.IsZero() && (y < 1900 || y > 2200) {
			return SearchResults{}, FieldErr(b.field, "year %d is out of range (1900–2200)", y)
		}
	}
	if s.Index == nil {
		return SearchResults{}, ErrUnavailable
	}
	return s.Index.Search(ctx, q)
}

func checkLimit(l *int) error {
	if *l == 0 {
		*l = 50
	}
	if *l < 1 || *l > 1000 {
		return FieldErr("limit", "must be between 1 and 1000")
	}
	return nil
}

// prefixField puts a batch position in front of a FieldError's field.
func prefixField(err error, list string, i int) error {
	if fe, ok := err.(*FieldError); ok {
		f := list + "[" + strconv.Itoa(i) + "]"
		if fe.Field != "" {
			f += "." + fe.Field
		}
		return &FieldError{Kind: fe.Kind, Field: f, Message: fe.Message}
	}
	return err
}
