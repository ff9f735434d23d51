package webhook

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/livebill/livebill"
)

// NormalizerVersion is the version of the normalizer's checkpoints.
const NormalizerVersion = 1

type normState struct {
	V     int                        `json:"v"`
	T     int64                      `json:"t"`
	Rooms []normRoom                 `json:"rooms,omitempty"`
	Seen  map[string]map[string]bool `json:"seen,omitempty"`
}

type normRoom struct {
	App   string            `json:"app"`
	Room  string            `json:"room"`
	Users map[string]nuserJ `json:"users,omitempty"`
	Tasks []string          `json:"tasks,omitempty"`
	Seq   map[string]int64  `json:"seq,omitempty"`
}

type nuserJ struct {
	Audio  bool `json:"a,omitempty"`
	Video  bool `json:"v,omitempty"`
	Screen bool `json:"s,omitempty"`
}

// Checkpoint writes the normalizer's state out (the live meter's
// checkpoints, meter.Checkpoint): what its webhook rooms hold. Nothing
// may be buffered (Close first). Rooms with nothing in them are left out.
func (n *Normalizer) Checkpoint() ([]byte, error) {
	if len(n.buf) > 0 {
		return nil, fmt.Errorf("cannot checkpoint the webhook normalizer: %d events of %d not yet handed over", len(n.buf), n.t)
	}
	st := normState{V: NormalizerVersion, T: n.t, Seen: n.seen}
	for k, r := range n.rooms {
		if len(r.users) == 0 && len(r.tasks) == 0 && len(r.seq) == 0 {
			continue
		}
		nr := normRoom{App: k[0], Room: k[1], Seq: r.seq}
		for u, s := range r.users {
			if nr.Users == nil {
				nr.Users = map[string]nuserJ{}
			}
			nr.Users[u] = nuserJ{s.audio, s.video, s.screen}
		}
		for t, on := range r.tasks {
			if on {
				nr.Tasks = append(nr.Tasks, t)
			}
		}
		sort.Strings(nr.Tasks)
		st.Rooms = append(st.Rooms, nr)
	}
	sort.Slice(st.Rooms, func(i, j int) bool {
		a, b := st.Rooms[i], st.Rooms[j]
		return a.App < b.App || a.App == b.App && a.Room < b.Room
	})
	return json.Marshal(&st)
}

// RestoreNormalizer makes a normalizer feeding apply from a checkpoint
// Checkpoint wrote; a checkpoint of another version is an error.
func RestoreNormalizer(apply func(*livebill.Event), data []byte) (*Normalizer, error) {
	var st normState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("cannot read the webhook normalizer's checkpoint: %w", err)
	}
	if st.V != NormalizerVersion {
		return nil, fmt.Errorf("the webhook normalizer's checkpoint is of version %d, not %d", st.V, NormalizerVersion)
	}
	n := NewNormalizer(apply)
	n.t = st.T
	if st.Seen != nil {
		n.seen = st.Seen
	}
	for _, nr := range st.Rooms {
		r := &nroom{users: map[string]*nuser{}, tasks: map[string]bool{}, seq: map[string]int64{}}
		for u, s := range nr.Users {
			r.users[u] = &nuser{s.Audio, s.Video, s.Screen}
		}
		for _, t := range nr.Tasks {
			r.tasks[t] = true
		}
		for u, s := range nr.Seq {
			r.seq[u] = s
		}
		n.rooms[[2]string{nr.App, nr.Room}] = r
	}
	return n, nil
}
