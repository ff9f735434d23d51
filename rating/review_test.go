package rating_test

// Regression tests from the review of SPEC §4 (pack order, retroactive
// cover, refunds, stops). Expected values are computed by hand in comments.

import (
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/scenario"
)

func quoteYAML(t *testing.T, doc string) (*livebill.Quote, error) {
	t.Helper()
	f, err := scenario.Parse([]byte(doc), t.Name()+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		return nil, err
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("rejected events: %v", res.Rejected)
	}
	return res.Quote, nil
}

func packUsed(q *livebill.Quote, id string) string {
	for _, p := range q.Packs {
		if p.ID == id {
			return p.Used
		}
	}
	return "(no pack)"
}

func lineAmount(q *livebill.Quote, item string) string {
	for _, l := range q.Lines {
		if l.Item == item {
			return l.Amount
		}
	}
	return "(no line)"
}

// The account's free packs ended in 2024 (created 2023-01-01, 12 months).
// p1 rtc-engine.lite (app A, 50,000 gift, 03-01..04-01); p2 call.1v1 bought
// 03-03 09:00 (app A, 100,000 gift, 03-03..04-03). 10 audio minutes at
// 10:00: earliest expiry first → p1 covers 10. p2 untouched → the 12:00
// refund is accepted (-199), and a refunded plan grants no pack, so it must
// not take p1's minutes on the re-run.
func TestRefundedPackDoesNotReorder(t *testing.T) {
	q, err := quoteYAML(t, `
catalog: trtc
period: {from: 2025-03-01, to: 2025-04-01}
account: {id: "1", created: 2023-01-01}
plans:
  - {id: p1, app: "A", plan: rtc-engine.lite, start: 2025-03-01}
  - {id: p2, app: "A", plan: call.1v1, start: "2025-03-03T09:00:00+08:00"}
refunds:
  - {plan: p2, time: "2025-03-03T12:00:00+08:00"}
events:
  - {time: "2025-03-03T10:00:00+08:00", type: room.join, app: "A", room: r1, user: u1}
  - {time: "2025-03-03T10:10:00+08:00", type: room.leave, app: "A", room: r1, user: u1}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := packUsed(q, "p1"); got != "10" {
		t.Errorf("p1 used %s, want 10", got)
	}
	if got := packUsed(q, "p2"); got != "(no pack)" && got != "0" {
		t.Errorf("refunded p2 used %s, want nothing", got)
	}
	if got := lineAmount(q, "call.1v1.refund"); got != "-199" {
		t.Errorf("refund line %s, want -199", got)
	}
}

// p1 rtc-engine.basic bought 2024-12-20 covers every app (promotion up to
// 2024-12-31). p2 call.1v1 for app A is bought 2025-01-05 15:00. The 10
// audio minutes at 10:00 were covered by p1 when they happened; p2 only
// covers what packs valid then left uncovered (nothing), so it stays
// untouched and the 16:00 refund is accepted.
func TestRetroactiveCoverOnlyWhatOthersLeft(t *testing.T) {
	q, err := quoteYAML(t, `
catalog: trtc
period: {from: 2025-01-01, to: 2025-02-01}
account: {id: "1", created: 2023-01-01}
plans:
  - {id: p1, app: "A", plan: rtc-engine.basic, start: 2024-12-20}
  - {id: p2, app: "A", plan: call.1v1, start: "2025-01-05T15:00:00+08:00"}
refunds:
  - {plan: p2, time: "2025-01-05T16:00:00+08:00"}
events:
  - {time: "2025-01-05T10:00:00+08:00", type: room.join, app: "A", room: r1, user: u1}
  - {time: "2025-01-05T10:10:00+08:00", type: room.leave, app: "A", room: r1, user: u1}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := packUsed(q, "p1"); got != "10" {
		t.Errorf("p1 used %s, want 10", got)
	}
	if got := lineAmount(q, "call.1v1.refund"); got != "-199" {
		t.Errorf("refund line %s, want -199 (accepted)", got)
	}
}

// Same app, same expiry (both end 04-01): the earliest grant is the one
// bought first (09:00), whatever the order of the file.
func TestEarliestGrantByPurchaseInstant(t *testing.T) {
	q, err := quoteYAML(t, `
catalog: trtc
period: {from: 2025-03-01, to: 2025-04-01}
account: {id: "1", created: 2023-01-01}
plans:
  - {id: late, app: "A", plan: call.1v1, start: "2025-03-01T15:00:00+08:00"}
  - {id: early, app: "A", plan: rtc-engine.lite, start: "2025-03-01T09:00:00+08:00"}
events:
  - {time: "2025-03-01T16:00:00+08:00", type: room.join, app: "A", room: r1, user: u1}
  - {time: "2025-03-01T16:10:00+08:00", type: room.leave, app: "A", room: r1, user: u1}
`)
	if err != nil {
		t.Fatal(err)
	}
	if e, l := packUsed(q, "early"), packUsed(q, "late"); e != "10" || l != "0" {
		t.Errorf("early used %s, late used %s; want 10 and 0", e, l)
	}
}

// A refund at 10:00 of a plan bought at 15:00 the same day is refused: the
// plan was not bought yet.
func TestRefundBeforePurchaseRefused(t *testing.T) {
	_, err := quoteYAML(t, `
catalog: trtc
period: {from: 2025-03-01, to: 2025-04-01}
account: {id: "1", created: 2023-01-01}
plans:
  - {id: p1, app: "A", plan: rtc-engine.lite, start: "2025-03-03T15:00:00+08:00"}
refunds:
  - {plan: p1, time: "2025-03-03T10:00:00+08:00"}
`)
	if err == nil || !strings.Contains(err.Error(), "p1") {
		t.Fatalf("err %v, want a refusal naming p1", err)
	}
}

// Created 2024-10-01 (ratios from 2024-07-25: audio 1, 4K 36). A publishes
// 3840×2160 (8,294,400 px → 4K) to B; A receives nothing (audio). Each
// 5-minute window costs 5 + 5×36 = 185 pack minutes: 54 windows use 9,990;
// the 55th has 10 left: audio 5 covered, 4K 0 of 5 → the trial app stops at
// 10:00 + 55×5 min = 14:35. November's free pack (from 11-01) restores
// service: the 10 audio minutes of 11-05 are covered by it, not blocked.
func TestStopEndsWithNextMonthsFreePack(t *testing.T) {
	q, err := quoteYAML(t, `
catalog: trtc
period: {from: 2024-10-01, to: 2024-12-01}
account: {id: "1", created: 2024-10-01}
events:
  - {time: "2024-10-02T10:00:00+08:00", type: room.join, app: "A", room: r1, user: A}
  - {time: "2024-10-02T10:00:00+08:00", type: stream.start, app: "A", room: r1, user: A, stream: main, media: video, width: 3840, height: 2160}
  - {time: "2024-10-02T10:00:00+08:00", type: room.join, app: "A", room: r1, user: B, subscribe: all}
  - {time: "2024-10-02T16:00:00+08:00", type: room.leave, app: "A", room: r1, user: B}
  - {time: "2024-10-02T16:00:00+08:00", type: room.leave, app: "A", room: r1, user: A}
  - {time: "2024-11-05T10:00:00+08:00", type: room.join, app: "A", room: r2, user: u1}
  - {time: "2024-11-05T10:10:00+08:00", type: room.leave, app: "A", room: r2, user: u1}
`)
	if err != nil {
		t.Fatal(err)
	}
	var stop string
	for _, n := range q.Notices {
		if n.Code == livebill.NoticeServiceStop {
			stop = n.Time
		}
	}
	if !strings.HasPrefix(stop, "2024-10-02T14:35:00") {
		t.Errorf("service_stopped at %q, want 2024-10-02T14:35:00+08:00", stop)
	}
	if got := packUsed(q, "free-2024-11-01"); got != "10" {
		t.Errorf("November free pack used %s, want 10", got)
	}
}

// A stop before the period that blocks nothing in it is not reported.
func TestStopBeforePeriodNotReported(t *testing.T) {
	q, err := quoteYAML(t, `
catalog: trtc
period: {from: 2025-03-01, to: 2025-04-01}
account: {id: "1", created: 2023-01-01}
events:
  - {time: "2025-02-20T10:00:00+08:00", type: room.join, app: "A", room: r1, user: u1}
  - {time: "2025-02-20T10:10:00+08:00", type: room.leave, app: "A", room: r1, user: u1}
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range q.Notices {
		if n.Code == livebill.NoticeServiceStop || n.Code == livebill.NoticeBlockedUsage {
			t.Errorf("notice %+v reported for a stop before the period", n)
		}
	}
}
