package catalog

import (
	"fmt"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Admission is the catalog data admission enforces (SPEC §4: the
// editions' feature and limit tables are "catalog data, enforced by
// admission"): the features an edition can unlock and, per plan, what its
// edition allows. A user catalog overrides an edition field by field, as
// it overrides an item.
type Admission struct {
	// Features names every feature an edition may unlock, with a short
	// description; an edition may list only these.
	Features map[string]string `yaml:"features"`
	// Editions are the tables by plan id.
	Editions map[string]*Edition `yaml:"editions"`
}

// Edition is what one edition of a product allows. A nil limit is no
// limit; a feature not listed is not unlocked.
type Edition struct {
	Features []string `yaml:"features"`
	// MaxRoomUsers: users in one room at once (robots do not count).
	MaxRoomUsers *int64 `yaml:"max_room_users"`
	// ActiveRooms: rooms of the app with someone in them at once.
	ActiveRooms *int64 `yaml:"active_rooms"`
	// AudiencePerRoom: users in a room who do not publish.
	AudiencePerRoom *int64 `yaml:"audience_per_room"`
	// MaxPublishers: users publishing in one room at once (live
	// co-hosting, 连麦).
	MaxPublishers *int64 `yaml:"max_publishers"`
	// MaxVideoArea: the largest video stream, in pixels (w×h); 2K and 4K
	// are above 2,073,600.
	MaxVideoArea *int64 `yaml:"max_video_area"`
}

// Has reports whether the edition unlocks a feature.
func (e *Edition) Has(feature string) bool {
	for _, f := range e.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// Edition returns the table of a plan's edition, if the catalog has one.
func (c *Catalog) Edition(planID string) (*Edition, bool) {
	if c.Admission == nil {
		return nil, false
	}
	e, ok := c.Admission.Editions[planID]
	return e, ok
}

// HasFeature reports whether the catalog declares a feature.
func (c *Catalog) HasFeature(name string) bool {
	if c.Admission == nil {
		return false
	}
	_, ok := c.Admission.Features[name]
	return ok
}

// checkAdmission validates the admission tables: every edition names a
// plan of the catalog and only declared features, and limits are not
// negative (a video area must be positive).
func (c *Catalog) checkAdmission() []error {
	a := c.Admission
	if a == nil {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for name, desc := range a.Features {
		if name == "" {
			add("admission.features: a feature without a name (%q)", desc)
		}
	}
	ids := make([]string, 0, len(a.Editions))
	for id := range a.Editions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := a.Editions[id]
		where := "admission.editions." + id
		if _, ok := c.plans[id]; !ok {
			add("%s: no plan %s in the catalog", where, id)
		}
		if e == nil {
			add("%s: empty (give its features and limits, or leave it out)", where)
			continue
		}
		for _, f := range e.Features {
			if _, ok := a.Features[f]; !ok {
				add("%s: feature %q is not declared in admission.features", where, f)
			}
		}
		for _, l := range []struct {
			name string
			v    *int64
		}{{"max_room_users", e.MaxRoomUsers}, {"active_rooms", e.ActiveRooms}, {"audience_per_room", e.AudiencePerRoom}, {"max_publishers", e.MaxPublishers}} {
			if l.v != nil && *l.v < 0 {
				add("%s: %s must not be negative, not %d", where, l.name, *l.v)
			}
		}
		if e.MaxVideoArea != nil && *e.MaxVideoArea <= 0 {
			add("%s: max_video_area must be positive, not %d", where, *e.MaxVideoArea)
		}
	}
	return errs
}

// mergeAdmission applies a user catalog's admission section onto a copy
// of the base's: declared features are added or re-described, and each
// edition the override names is decoded onto a copy of the base's, so only
// the fields it sets change (features, when set, replace the list).
func mergeAdmission(base *Admission, raw []byte) (*Admission, error) {
	out := &Admission{Features: map[string]string{}, Editions: map[string]*Edition{}}
	if base != nil {
		for k, v := range base.Features {
			out.Features[k] = v
		}
		for k, e := range base.Editions {
			cp := *e
			cp.Features = append([]string(nil), e.Features...)
			out.Editions[k] = &cp
		}
	}
	var doc struct {
		Admission struct {
			Features map[string]string    `yaml:"features"`
			Editions map[string]yaml.Node `yaml:"editions"`
		} `yaml:"admission"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	for k, v := range doc.Admission.Features {
		out.Features[k] = v
	}
	for id, node := range doc.Admission.Editions {
		e := out.Editions[id]
		if e == nil {
			e = &Edition{}
			out.Editions[id] = e
		}
		if err := node.Decode(e); err != nil {
			return nil, fmt.Errorf("admission.editions.%s: %v", id, err)
		}
	}
	return out, nil
}
