package meter_test

// Dissolutions (SPEC §4 "Arrears": a suspended account's open rooms are
// dissolved; seed 003 停服说明: "触发停服后，立即解散全部已有房间").

import (
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
)

// runDissolved is runMeter with dissolutions.
func runDissolved(t *testing.T, ds []meter.Dissolution, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	r := applyWith(t, meter.Options{Dissolutions: ds}, closeAt, es...)
	if errs := r.m.Errors(); len(errs) > 0 {
		t.Fatalf("events rejected: %v", errs)
	}
	return r
}

// A and B in room r1 of app1 from 10:00, A publishing 1280×720 and B
// receiving it, a recording of A's stream and a relay from 10:00; C alone
// in room r1 of app2. The account is suspended at 10:30 (app ""):
// everyone leaves and every task stops then. A rejoins app1's room at
// 11:00 (a session admission should have refused: metered, to be blocked
// by rating) and leaves at 11:10; C never leaves and nothing more comes:
// closed at 12:00.
//
//	A: audio 30 (10:00–10:30, receives nothing) + audio 10 (11:00–11:10)
//	B: HD 30 (receives A's 921,600 px)
//	robot:recording: HD 30 (subscribes to A) and recording HD 30
//	robot:relay: HD 30 (receives all: A's stream)
//	C (app2): audio 30, not 120: the dissolution ended it at 10:30
//	relay interval: 10:00–10:30
func TestDissolutionEndsEverything(t *testing.T) {
	es := cat(
		[]livebill.Event{
			join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
			pub(at("10:00"), "A", "main", 1280, 720), sub(at("10:00"), "B", "A", "main", 0, 0),
			recStart(at("10:00"), "rec", mp4, "", nil, ref("A", "main")),
			relayStart(at("10:00"), "rl", livebill.DestThirdParty, 2000),
			join(at("11:00"), "A", "manual"), leave(at("11:10"), "A"),
		},
		on(app2, join(at("10:00"), "C", "manual")),
	)
	r := runDissolved(t, []meter.Dissolution{{At: at("10:30")}}, at("12:00"), es...)
	got := r.byDay()
	want := map[string]int64{
		app1 + " 2024-10-01 trtc.av.audio":     40 * min,
		app1 + " 2024-10-01 trtc.av.hd":        90 * min, // B, the recording robot, the relay robot
		app1 + " 2024-10-01 trtc.recording.hd": 30 * min,
		app2 + " 2024-10-01 trtc.av.audio":     30 * min,
	}
	expectMap(t, got, want)
	rl := r.m.Relays()
	if len(rl) != 1 || rl[0].Start != at("10:00") || rl[0].End != at("10:30") {
		t.Errorf("relays %+v, want one from 10:00 to 10:30", rl)
	}
	if r.hasNotice(meter.NoticeOpenAtClose) {
		t.Errorf("open_at_period_end: nothing should be open at 12:00")
	}
}

// A dissolution of one app leaves the other app's rooms alone; an event at
// the dissolution's instant comes after it (a join at 10:30 stays), and
// what a dissolved participant's own end says (a leave, at that instant or
// later) is dropped, not rejected; a participant who never was there is
// still an error.
func TestDissolutionOfOneApp(t *testing.T) {
	es := cat(
		[]livebill.Event{join(at("10:00"), "A", "manual"), leave(at("10:30"), "A"), join(at("10:30"), "B", "manual"), leave(at("10:45"), "B")},
		on(app2, join(at("10:00"), "C", "manual"), leave(at("11:00"), "C")),
	)
	r := applyWith(t, meter.Options{Dissolutions: []meter.Dissolution{{App: app1, At: at("10:30")}}}, at("12:00"), es...)
	m := r.m
	// A's own leave at 10:30 finds A gone (the dissolution came first): it
	// is dropped, not rejected
	if errs := m.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	expectMap(t, r.byDay(), map[string]int64{
		app1 + " 2024-10-01 trtc.av.audio": 45 * min, // A 30, B 15
		app2 + " 2024-10-01 trtc.av.audio": 60 * min,
	})
}

// A live meter advanced past a dissolution applies it to rooms that got no
// event since; a new dissolution before what a room took is refused.
func TestDissolutionDropsLaterEnds(t *testing.T) {
	es := []livebill.Event{
		join(at("10:00"), "A", "manual"), pub(at("10:00"), "A", "main", 1280, 720),
		recStart(at("10:00"), "rec", mp4, "", nil, ref("A", "main")),
		unpub(at("11:00"), "A", "main"), recStop(at("11:00"), "rec"), leave(at("11:00"), "A"),
		leave(at("11:00"), "Z"), // never joined: an error
		join(at("11:30"), "A", "manual"), leave(at("11:40"), "A"),
		leave(at("11:50"), "A"), // A left already: an error again
	}
	errs := applyWith(t, meter.Options{Dissolutions: []meter.Dissolution{{At: at("10:30")}}}, at("12:00"), es...).m.Errors()
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "Z") || !strings.Contains(errs[1].Error(), "leave without join") {
		t.Fatalf("errors %v, want Z's leave and A's second leave", errs)
	}
}

func TestDissolutionAdvance(t *testing.T) {
	m, err := meter.New(trtc(t), meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	es := []livebill.Event{join(at("10:00"), "A", "manual")}
	m.Apply(&es[0])
	m.Advance(at("10:10"))
	if err := m.SetDissolutions([]meter.Dissolution{{At: at("10:05")}}); err == nil {
		t.Fatal("a dissolution before the room's applied events was accepted")
	}
	if err := m.SetDissolutions([]meter.Dissolution{{At: at("10:20")}}); err != nil {
		t.Fatal(err)
	}
	m.Advance(at("11:00"))
	r := &metered{m: m, recs: m.Records()}
	expectTotals(t, r, map[string]int64{"trtc.av.audio": 20 * min})
	if err := m.SetDissolutions(nil); err == nil {
		t.Fatal("dropping a dissolution a room applied was accepted")
	}
}
