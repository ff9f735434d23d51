package billing

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/webhook"
)

// TestLiveFeed: the live meter hands events other than webhooks' straight
// to the meter; the usage must be what the normalizer, fed everything,
// gives — with webhook and other events at the same instants.
func TestLiveFeed(t *testing.T) {
	a, err := build(&livebill.AccountRecord{Account: livebill.Account{ID: "x"}, Catalog: "trtc"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	ev := func(id string, sec int, typ, user, extra string) {
		lines = append(lines, fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"1400000001","room":"r1","user":%q%s}`,
			id, time.Unix(1727740800+int64(sec), 0).UTC().Format(time.RFC3339), typ, user, extra))
	}
	video := `,"stream":"main","media":"video","width":1280,"height":720`
	ev("p1", 0, "room.join", "A", `,"subscribe":"all"`)
	ev("wh:trtc:1", 0, "room.join", "W", "")
	ev("p2", 0, "stream.start", "A", video)
	ev("wh:trtc:2", 60, "stream.start", "W", `,"stream":"main","media":"audio"`)
	ev("wh:trtc:3", 60, "room.join", "W", "") // a repeat the normalizer drops
	ev("p3", 60, "room.join", "B", `,"subscribe":"all"`)
	ev("wh:trtc:6", 90, "stream.start", "W", video) // main becomes video
	ev("p4", 120, "room.join", "C", `,"subscribe":"all"`)
	ev("wh:trtc:4", 600, "stream.stop", "W", video)
	ev("p5", 600, "room.leave", "B", "")
	ev("p6", 900, "room.leave", "C", "")
	ev("p7", 1200, "room.leave", "A", "")
	ev("wh:trtc:5", 1200, "room.leave", "*", "") // dismissed: W leaves
	ev("wh:trtc:7", 1300, "room.leave", "W", "") // already gone
	to := int64(1727740800+3600) * 1000

	lm, err := newLiveMeter(a)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		lm.take([]livebill.StoredEvent{{Seq: int64(i + 1), Time: timeOf(t, l), Body: []byte(l)}})
	}
	lm.advance(to)

	m, err := meter.New(a.cat, meter.Options{Location: a.loc})
	if err != nil {
		t.Fatal(err)
	}
	norm := webhook.NewNormalizer(m.Apply)
	for _, l := range lines {
		var e livebill.Event
		if err := eventio.Parse([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		norm.Apply(&e)
	}
	norm.Close()
	m.Advance(to)
	if got, want := recordsBefore(lm.m.Records(), to), recordsBefore(m.Records(), to); len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("live meter records\n%+v\nnormalizer fed everything\n%+v", got, want)
	}
}

func timeOf(t *testing.T, line string) int64 {
	var e livebill.Event
	if err := eventio.Parse([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	return e.Time
}

// An adjustment names the bill it adjusts by that bill's key: keyKindDate
// reads back the kind and date keyed put first, for every kind of bill
// (a purchase bill's key goes on with its lines' items and an ordinal).
func TestKeyKindDate(t *testing.T) {
	bills := []livebill.Bill{
		{Kind: livebill.BillDaily, Date: "2024-09-20"},
		{Kind: livebill.BillMonthly, Date: "2024-09-01"},
		{Kind: livebill.BillPurchase, Date: "2024-09-03", Lines: []livebill.Line{{Item: "pack.audio", App: "1400000001"}, {Item: "pack.video", App: "1400000001"}}},
		{Kind: livebill.BillPurchase, Date: "2024-09-03", Lines: []livebill.Line{{Item: "pack.audio", App: "1400000001"}, {Item: "pack.video", App: "1400000001"}}},
	}
	for i, b := range keyed(bills) {
		if kind, date := keyKindDate(b.key); kind != bills[i].Kind || date != bills[i].Date {
			t.Errorf("key %q: kind %q, date %q; want %q, %q", b.key, kind, date, bills[i].Kind, bills[i].Date)
		}
	}
	if kind, date := keyKindDate("daily"); kind != "daily" || date != "" {
		t.Errorf("a key of a kind alone: %q %q", kind, date)
	}
}
