package webhook

import (
	"errors"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
)

// The adapters' payload parsing is fuzzed per vendor: no body a vendor
// (or anyone with the secret) can send panics the mapping, errors are
// coded invalid (a 4xx), and each event made is one the ingestion judges
// event by event — valid, or an EventError naming the field (an over-long
// room id from a payload is refused there) — and that the replay-time
// Normalizer takes without panicking. Seeds: the vendors' documented
// sample callbacks (webhook_test.go).

func FuzzMapTRTC(f *testing.F) { fuzzMap(f, TRTC, MapTRTC, append(trtcSamples, trtcDocBody)) }

func FuzzMapLiveKit(f *testing.F) { fuzzMap(f, LiveKit, MapLiveKit, append(lkSamples, lkBody)) }

func FuzzMapAgora(f *testing.F) { fuzzMap(f, Agora, MapAgora, agoraSamples) }

// fuzzMap fuzzes one vendor's mapping from its samples.
func fuzzMap(f *testing.F, vendor string, mapping func(*Config, []byte) ([]Event, error), samples []string) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := mapping(cfg(vendor), body)
		checkMapped(t, body, evs, err)
	})
}

func checkMapped(t *testing.T, body []byte, evs []Event, err error) {
	t.Helper()
	if err != nil {
		if livebill.ErrorCode(err) != livebill.EINVALID {
			t.Fatalf("%q: error coded %s: %v", body, livebill.ErrorCode(err), err)
		}
		return
	}
	n := NewNormalizer(func(*livebill.Event) {})
	for _, r := range Raw(evs) {
		var e livebill.Event
		if err := eventio.Parse(r.Body, &e); err != nil {
			var ee *livebill.EventError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: mapped event %s: %v is not an EventError", body, r.Body, err)
			}
			continue
		}
		n.Apply(&e)
	}
	n.Close()
}
