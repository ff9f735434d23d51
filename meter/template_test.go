package meter_test

import (
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
)

// Meters of one catalog share its interned model; what one meter interns
// later (a counted item) stays its own.
func TestMetersShareModelNotTheirOwnItems(t *testing.T) {
	cat := trtc(t)
	m1, _ := meter.New(cat, meter.Options{})
	m2, _ := meter.New(cat, meter.Options{})
	if _, ok := m1.ItemIndex("trtc.av.hd"); !ok {
		t.Fatal("the model's items are not interned")
	}
	shot := livebill.Event{Type: livebill.Screenshot, App: app1, Time: at("10:00"), Count: 3}
	m1.Apply(&shot)
	if _, ok := m2.ItemIndex("trtc.screenshot"); ok {
		t.Fatal("an item one meter interned shows in another")
	}
	// a third meter interning another item at the same index must not
	// change what the first one records
	m3, _ := meter.New(cat, meter.Options{})
	login := livebill.Event{Type: livebill.Login, App: app1, User: "u", Time: at("10:00")}
	m3.Apply(&login)
	shot2 := livebill.Event{Type: livebill.Screenshot, App: app1, Time: at("11:00"), Count: 2}
	m3.Apply(&shot2)
	r1, r3 := m1.Records(), m3.Records()
	if len(r1) != 1 || r1[0].Item != "trtc.screenshot" || r1[0].Value != 3 {
		t.Fatalf("m1 records %+v, want 3 screenshots", r1)
	}
	if len(r3) != 1 || r3[0].Item != "trtc.screenshot" || r3[0].Value != 2 {
		t.Fatalf("m3 records %+v, want 2 screenshots", r3)
	}
}
