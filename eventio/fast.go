package eventio

import (
	"encoding/binary"
	"math/bits"
	"time"
	"unsafe"

	"github.com/livebill/livebill"
)

// Parser decodes events like Parse, but without reflection and, for the
// ids it has seen before, without allocating. It handles the plain form of
// every schema field: ASCII strings without escapes, integer numbers,
// true/false, and the lists and objects of task events. Anything else —
// escapes, null, unknown or repeated keys, fractions, a bad value — goes to
// Parse, so the two never disagree; Parse also produces every error.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	strs  []internEntry // interned ids: app, room, user, task…; a power of two
	shift uint8         // 64 - log2(len(strs)): a hash's top bits index strs
	// lookups of the intern table, and misses that pushed an id out,
	// since its size was last judged (see intern)
	lookups, misses int
	date            [10]byte // the date (YYYY-MM-DD) of the last time read
	days            int64    // date's days since 1970-01-01, 0 before the first
}

// The intern table is a 2-way set-associative cache of ids: a lookup
// costs a multiply and two compares of words held in the table, and an id
// pushed out is simply allocated again when it comes back. It starts at
// internMin entries (1 MiB) and doubles, up to internMax (8 MiB), while
// more than one lookup in internGrowAt pushes an id out: a stream with
// more ids in use than the table holds (many rooms open at once) would
// otherwise allocate its ids again and again, and give the meter a new
// string, so a new address, for an id it knows.
const (
	internMin    = 1 << 15
	internMax    = 1 << 18
	internWindow = 1 << 16 // lookups between two looks at the miss rate
	internGrowAt = 16
)

// internEntry is an interned id with its first 16 bytes as words (zero
// padded): a lookup compares the words without reading the string, which
// would be one more cache miss.
type internEntry struct {
	w0, w1 uint64
	s      string
}

// NewParser returns a parser with an empty intern cache.
func NewParser() *Parser {
	return &Parser{strs: make([]internEntry, internMin), shift: uint8(64 - bits.TrailingZeros(internMin))}
}

// Parse decodes one JSON event object and validates it; the result and the
// error are those of the package-level Parse.
func (p *Parser) Parse(b []byte, e *livebill.Event) error {
	if p.fast(b, e) {
		if err := e.Validate(); err == nil {
			return nil
		}
	}
	return Parse(b, e)
}

// intern returns b as a string, allocating only when it is not cached;
// w0 and w1 are its first 16 bytes (words).
func (p *Parser) intern(b []byte, w0, w1 uint64) string {
	if p.lookups++; p.lookups == internWindow {
		p.checkGrowth()
	}
	n := len(b)
	set := p.strs[(internHash(b, w0, w1)>>p.shift)&^1:][:2]
	if len(set[0].s) == n && set[0].w0 == w0 && set[0].w1 == w1 && (n <= 16 || set[0].s == string(b)) {
		return set[0].s
	}
	if len(set[1].s) == n && set[1].w0 == w0 && set[1].w1 == w1 && (n <= 16 || set[1].s == string(b)) {
		set[0], set[1] = set[1], set[0] // most recent first
		return set[0].s
	}
	if set[1].s != "" {
		p.misses++ // a miss that pushes an id out: the table is too small
	}
	set[1], set[0] = set[0], internEntry{w0, w1, string(b)}
	return set[0].s
}

// internHash hashes an id from its first 16 bytes as words (w0, w1) and,
// past them, the rest of its bytes b.
func internHash(b []byte, w0, w1 uint64) uint64 {
	h := w0 ^ bits.RotateLeft64(w1, 29) ^ uint64(len(b))<<58
	for i := 16; i < len(b); i += 8 { // long ids: the rest too
		h = bits.RotateLeft64(h, 23) ^ le64(b[i:])
	}
	return h * 0x9E3779B97F4A7C15
}

// checkGrowth doubles the intern table, keeping its ids, if more than one
// lookup in internGrowAt pushed an id out since the last check.
func (p *Parser) checkGrowth() {
	grow := p.misses > internWindow/internGrowAt && len(p.strs) < internMax
	p.lookups, p.misses = 0, 0
	if !grow {
		return
	}
	old := p.strs
	p.strs, p.shift = make([]internEntry, 2*len(old)), p.shift-1
	for i := len(old) - 1; i >= 0; i-- { // the less recent of each set first
		e := old[i]
		if e.s == "" {
			continue
		}
		set := p.strs[(internHash(unsafe.Slice(unsafe.StringData(e.s), len(e.s)), e.w0, e.w1)>>p.shift)&^1:][:2]
		set[1], set[0] = set[0], e
	}
}

// id reads a string and interns it.
func (p *Parser) id(s *scanner) string {
	b := s.str()
	if !s.ok {
		return ""
	}
	return p.intern(b, s.w0, s.w1)
}

// flexID reads a string or an integer (ids may be either), as Parse keeps
// them: the string's bytes or the number's literal, interned.
func (p *Parser) flexID(s *scanner) string {
	if s.next() == '"' {
		return p.id(s)
	}
	b := s.intLit()
	w0, w1 := words(b)
	return p.intern(b, w0, w1)
}

// words returns the first 16 bytes of b as little-endian words, zero
// padded.
func words(b []byte) (w0, w1 uint64) {
	w0 = le64(b)
	if len(b) > 8 {
		w1 = le64(b[8:])
	}
	return w0, w1
}

// le64 returns the first 8 bytes of b (fewer, zero padded) as a
// little-endian word.
func le64(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)
	}
	var w uint64
	for i, c := range b {
		w |= uint64(c) << (8 * i)
	}
	return w
}

// enum returns the constant for the schema's fixed words, else interns.
func (p *Parser) enum(b []byte) string {
	switch string(b) {
	case livebill.StreamMain:
		return livebill.StreamMain
	case livebill.StreamSmall:
		return livebill.StreamSmall
	case livebill.StreamScreen:
		return livebill.StreamScreen
	case livebill.MediaAudio:
		return livebill.MediaAudio
	case livebill.MediaVideo:
		return livebill.MediaVideo
	case livebill.SubscribeManual:
		return livebill.SubscribeManual
	case livebill.SubscribeAll:
		return livebill.SubscribeAll
	case "h264":
		return "h264"
	case "h265":
		return "h265"
	case livebill.DestVOD:
		return livebill.DestVOD
	case livebill.DestTencent:
		return livebill.DestTencent
	case livebill.DestThirdParty:
		return livebill.DestThirdParty
	}
	w0, w1 := words(b)
	return p.intern(b, w0, w1)
}

// eventType returns the type named b, or EventUnknown: a switch, which
// compiles to compares of lengths and words, is cheaper than hashing b
// into a map.
func eventType(b []byte) livebill.EventType {
	switch string(b) {
	case "room.join":
		return livebill.RoomJoin
	case "room.leave":
		return livebill.RoomLeave
	case "stream.start":
		return livebill.StreamStart
	case "stream.update":
		return livebill.StreamUpdate
	case "stream.stop":
		return livebill.StreamStop
	case "subscribe.start":
		return livebill.SubscribeStart
	case "subscribe.stop":
		return livebill.SubscribeStop
	case "recording.start":
		return livebill.RecordingStart
	case "recording.stop":
		return livebill.RecordingStop
	case "transcode.start":
		return livebill.TranscodeStart
	case "transcode.update":
		return livebill.TranscodeUpdate
	case "transcode.stop":
		return livebill.TranscodeStop
	case "relay.start":
		return livebill.RelayStart
	case "relay.stop":
		return livebill.RelayStop
	case "input.start":
		return livebill.InputStart
	case "input.stop":
		return livebill.InputStop
	case "screenshot":
		return livebill.Screenshot
	case "login":
		return livebill.Login
	case "signal":
		return livebill.Signal
	case "matchmaking.request":
		return livebill.MatchmakingRequest
	case "matchmaking.evaluation":
		return livebill.MatchmakingEvaluation
	case "session.start":
		return livebill.SessionStart
	case "session.stop":
		return livebill.SessionStop
	}
	return livebill.EventUnknown
}

// scanner walks one line; ok turns false at the first thing the fast path
// does not handle, after which every method is a no-op.
type scanner struct {
	b      []byte
	i      int
	ok     bool
	w0, w1 uint64 // the first 16 bytes of the last string read (words)
}

func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' { // the usual case: no space
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next is peek, quicker when there is no space to skip.
func (s *scanner) next() byte {
	if s.ok && s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i]
	}
	return s.peek()
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if !s.ok || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.ok = false
		return
	}
	s.i++
}

// str reads a string without escapes or non-ASCII bytes (encoding/json
// would rewrite invalid UTF-8, so those go to the slow path).
func (s *scanner) str() []byte {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '"' { // else no space to skip
		if s.peek() != '"' {
			s.ok = false
			return nil
		}
	}
	s.i++
	start := s.i
	// Eight bytes at a time while the line has them: ids and keys are
	// short, so this is usually one step. The first two words are kept for
	// intern.
	s.w0, s.w1 = 0, 0
	for n := 0; s.i+8 <= len(s.b); n++ {
		w := binary.LittleEndian.Uint64(s.b[s.i:])
		m := special(w)
		if m != 0 {
			w &= 1<<(bits.TrailingZeros64(m)&^7) - 1 // the bytes before it
		}
		switch n {
		case 0:
			s.w0 = w
		case 1:
			s.w1 = w
		}
		if m != 0 {
			s.i += bits.TrailingZeros64(m) / 8
			return s.strEnd(start)
		}
		s.i += 8
	}
	for ; s.i < len(s.b); s.i++ {
		if c := s.b[s.i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			out := s.strEnd(start)
			s.w0, s.w1 = words(out)
			return out
		}
	}
	s.ok = false
	return nil
}

// strEnd ends a string at the first special byte, s.i: a quote ends it,
// anything else goes to the slow path, as does a string longer than an id
// may be (Parse reports it). So what the fast path takes passes
// Event.CheckText: short printable ASCII.
func (s *scanner) strEnd(start int) []byte {
	if s.b[s.i] != '"' || s.i-start > livebill.MaxIDLen {
		s.ok = false
		return nil
	}
	out := s.b[start:s.i]
	s.i++
	return out
}

// special marks the bytes of w (little-endian) that end or complicate a
// string: '"', '\\', control characters and non-ASCII. The lowest mark is
// exact (a borrow runs only upward from a marked byte), which is all str
// needs.
func special(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (ones * '"')
	bs := w ^ (ones * '\\')
	return ((q-ones) & ^q | (bs-ones) & ^bs | (w-ones*0x20) & ^w | w) & highs
}

// intLit reads an integer literal -?(0|[1-9][0-9]*) of at most 18 digits,
// followed by a delimiter; fractions and exponents are not handled.
func (s *scanner) intLit() []byte {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	d := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - d
	if n == 0 || n > 18 || (n > 1 && s.b[d] == '0') {
		s.ok = false
		return nil
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
		default:
			s.ok = false
			return nil
		}
	}
	return s.b[start:s.i]
}

func (s *scanner) int64() int64 {
	lit := s.intLit()
	if !s.ok {
		return 0
	}
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var v int64
	for _, c := range lit {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v
}

// flex reads a string or an integer, as Parse keeps them: the string's
// bytes or the number's literal.
func (s *scanner) flex() []byte {
	if s.next() == '"' {
		return s.str()
	}
	return s.intLit()
}

func (s *scanner) boolean() bool {
	s.ws()
	switch {
	case hasPrefixAt(s.b, s.i, "true"):
		s.i += 4
		return true
	case hasPrefixAt(s.b, s.i, "false"):
		s.i += 5
		return false
	}
	s.ok = false
	return false
}

func hasPrefixAt(b []byte, i int, p string) bool {
	return len(b)-i >= len(p) && string(b[i:i+len(p)]) == p
}

// object calls field for each key of an object until it fails.
func (s *scanner) object(field func(key []byte)) {
	s.expect('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	s.members(field)
}

// more goes on after an object's member: the next members, or its end.
func (s *scanner) more(field func(key []byte)) {
	switch s.next() {
	case ',':
		s.i++
		s.members(field)
	case '}':
		s.i++
	default:
		s.ok = false
	}
}

// members calls field for each key of an object, from the first key after
// its '{' or a ',', to its end.
func (s *scanner) members(field func(key []byte)) {
	for s.ok {
		k := s.str()
		if s.i < len(s.b) && s.b[s.i] == ':' { // the usual case: no space
			s.i++
		} else {
			s.expect(':')
		}
		if !s.ok {
			return
		}
		field(k)
		switch s.next() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.ok = false
		}
	}
}

// array calls elem for each element of a list until it fails.
func (s *scanner) array(elem func()) {
	s.expect('[')
	if s.peek() == ']' {
		s.i++
		return
	}
	for s.ok {
		elem()
		switch s.next() {
		case ',':
			s.i++
		case ']':
			s.i++
			return
		default:
			s.ok = false
		}
	}
}

// Key bits, to send repeated keys (last one wins in encoding/json) to the
// slow path.
const (
	fID = 1 << iota
	fType
	fTime
	fApp
	fRoom
	fUser
	fSubscribe
	fClient
	fStream
	fMedia
	fAudio
	fWidth
	fHeight
	fPublisher
	fTask
	fFormats
	fStreams
	fOutputs
	fCodec
	fOutput
	fInputs
	fDestination
	fBitrate
	fCount
	fPlayers
	fDurationUS
)

// fast decodes the common form of an event into e; false means "use Parse".
func (p *Parser) fast(b []byte, e *livebill.Event) bool {
	*e = livebill.Event{}
	s := scanner{b: b, ok: true}
	var seen uint32
	var typ, tim []byte
	hasCount, hasStreams := false, false
	once := func(bit uint32) {
		if seen&bit != 0 {
			s.ok = false
		}
		seen |= bit
	}
	field := func(k []byte) {
		switch string(k) {
		case "id":
			once(fID)
			e.ID = string(s.flex()) // unique per event: not worth interning
		case "type":
			once(fType)
			typ = s.str()
		case "time":
			once(fTime)
			tim = s.str()
		case "app":
			once(fApp)
			e.App = p.flexID(&s)
		case "room":
			once(fRoom)
			e.Room = p.flexID(&s)
		case "user":
			once(fUser)
			e.User = p.flexID(&s)
		case "subscribe":
			once(fSubscribe)
			e.Subscribe = p.enum(s.str())
		case "client":
			once(fClient)
			e.Client = p.id(&s)
		case "stream":
			once(fStream)
			e.Stream = p.enum(s.str())
		case "media":
			once(fMedia)
			e.Media = p.enum(s.str())
		case "audio":
			once(fAudio)
			e.NoAudio = !s.boolean()
		case "width":
			once(fWidth)
			e.Width = int(s.int64())
		case "height":
			once(fHeight)
			e.Height = int(s.int64())
		case "publisher":
			once(fPublisher)
			e.Publisher = p.flexID(&s)
		case "task":
			once(fTask)
			e.Task = p.flexID(&s)
		case "formats":
			once(fFormats)
			e.Formats = []string{}
			s.array(func() { e.Formats = append(e.Formats, p.id(&s)) })
		case "streams":
			once(fStreams)
			hasStreams = true
			if s.peek() == '"' {
				if string(s.str()) != "all" {
					s.ok = false
				}
				e.AllStreams = true
				return
			}
			e.Streams = p.refs(&s)
		case "outputs":
			once(fOutputs)
			e.Outputs = p.outputs(&s)
		case "codec":
			once(fCodec)
			e.Codec = p.enum(s.str())
		case "output":
			once(fOutput)
			if s.peek() == '"' {
				if string(s.str()) != "audio" {
					s.ok = false
				}
				e.OutputAudio = true
				return
			}
			var w, h uint32
			s.object(func(k []byte) {
				switch string(k) {
				case "width":
					w++
					e.Output.Width = int(s.int64())
				case "height":
					h++
					e.Output.Height = int(s.int64())
				default:
					s.ok = false
				}
			})
			if w > 1 || h > 1 {
				s.ok = false
			}
		case "inputs":
			once(fInputs)
			e.Inputs = p.refs(&s)
		case "destination":
			once(fDestination)
			e.Destination = p.enum(s.str())
		case "bitrate_kbps":
			once(fBitrate)
			e.BitrateKbps = s.int64()
		case "count":
			once(fCount)
			hasCount = true
			e.Count = s.int64()
		case "players":
			once(fPlayers)
			e.Players = s.int64()
		case "duration_us":
			once(fDurationUS)
			e.DurationUS = s.int64()
		default:
			s.ok = false // unknown, or a case variant encoding/json accepts
		}
	}
	// Events usually start with time, type, app, room and user in this
	// order (gen and the examples write them so): those are read by
	// matching the literal keys, not through field's switch, whose
	// branches mispredict. At the first other key, or any space, the
	// generic loop takes over from there.
	if hasPrefixAt(b, 0, `{"time":`) {
		s.i = len(`{"time":`)
		seen, tim = fTime, s.str()
		if s.ok && hasPrefixAt(b, s.i, `,"type":`) {
			s.i += len(`,"type":`)
			seen, typ = seen|fType, s.str()
			if s.ok && hasPrefixAt(b, s.i, `,"app":`) {
				s.i += len(`,"app":`)
				seen, e.App = seen|fApp, p.flexID(&s)
				if s.ok && hasPrefixAt(b, s.i, `,"room":`) {
					s.i += len(`,"room":`)
					seen, e.Room = seen|fRoom, p.flexID(&s)
					if s.ok && hasPrefixAt(b, s.i, `,"user":`) {
						s.i += len(`,"user":`)
						seen, e.User = seen|fUser, p.flexID(&s)
						p.laneRest(&s, e, &seen)
					}
				}
			}
		}
		s.more(field)
	} else {
		s.object(field)
	}
	s.ws()
	if !s.ok || s.i != len(b) {
		return false
	}
	if e.Type = eventType(typ); e.Type == livebill.EventUnknown {
		return false
	}
	t, ok := p.time(tim)
	if !ok {
		return false
	}
	e.Time = t
	if !hasCount && e.Type == livebill.MatchmakingEvaluation {
		e.Count = 1
	}
	if !hasStreams && e.Type == livebill.RelayStart {
		e.AllStreams = true
	}
	return true
}

// laneRest goes on with fast's lane after the user: the usual further
// keys of joins, streams and subscriptions in gen's order.
func (p *Parser) laneRest(s *scanner, e *livebill.Event, seen *uint32) {
	b := s.b
	if s.ok && hasPrefixAt(b, s.i, `,"subscribe":`) {
		s.i += len(`,"subscribe":`)
		*seen, e.Subscribe = *seen|fSubscribe, p.enum(s.str())
		return
	}
	if s.ok && hasPrefixAt(b, s.i, `,"publisher":`) {
		s.i += len(`,"publisher":`)
		*seen, e.Publisher = *seen|fPublisher, p.flexID(s)
	}
	if !s.ok || !hasPrefixAt(b, s.i, `,"stream":`) {
		return
	}
	s.i += len(`,"stream":`)
	*seen, e.Stream = *seen|fStream, p.enum(s.str())
	if s.ok && hasPrefixAt(b, s.i, `,"media":`) {
		s.i += len(`,"media":`)
		*seen, e.Media = *seen|fMedia, p.enum(s.str())
	}
	if s.ok && hasPrefixAt(b, s.i, `,"width":`) {
		s.i += len(`,"width":`)
		*seen, e.Width = *seen|fWidth, int(s.int64())
		if s.ok && hasPrefixAt(b, s.i, `,"height":`) {
			s.i += len(`,"height":`)
			*seen, e.Height = *seen|fHeight, int(s.int64())
		}
	}
}

// refs reads a list of {user, stream}.
func (p *Parser) refs(s *scanner) []livebill.StreamRef {
	out := []livebill.StreamRef{}
	s.array(func() {
		var r livebill.StreamRef
		var u, st int
		s.object(func(k []byte) {
			switch string(k) {
			case "user":
				u++
				r.User = p.id(s)
			case "stream":
				st++
				r.Stream = p.enum(s.str())
			default:
				s.ok = false
			}
		})
		if u > 1 || st > 1 {
			s.ok = false
		}
		out = append(out, r)
	})
	return out
}

// outputs reads a list of recording outputs.
func (p *Parser) outputs(s *scanner) []livebill.Output {
	out := []livebill.Output{}
	s.array(func() {
		var o livebill.Output
		var seen uint32
		once := func(bit uint32) {
			if seen&bit != 0 {
				s.ok = false
			}
			seen |= bit
		}
		s.object(func(k []byte) {
			switch string(k) {
			case "format":
				once(1)
				o.Format = p.id(s)
			case "destination":
				once(2)
				o.Destination = p.enum(s.str())
			case "width":
				once(4)
				o.Width = int(s.int64())
			case "height":
				once(8)
				o.Height = int(s.int64())
			case "media":
				once(16)
				o.Media = p.enum(s.str())
			default:
				s.ok = false
			}
		})
		out = append(out, o)
	})
	return out
}

// fastTime reads the common RFC 3339 forms — YYYY-MM-DDTHH:MM:SS, an
// optional fraction of 1–9 digits, then Z or ±HH:MM — as Unix ms. Anything
// else, or an out-of-range field, is left to time.Parse.
func fastTime(b []byte) (int64, bool) {
	days, ok := fastDate(b)
	if !ok {
		return 0, false
	}
	return fastClock(b, days)
}

// time is fastTime with the date of the last time read remembered: events
// come in time order, so the date is almost always the one before.
func (p *Parser) time(b []byte) (int64, bool) {
	if len(b) >= 20 && p.days != 0 && string(b[:10]) == string(p.date[:]) {
		return fastClock(b, p.days)
	}
	days, ok := fastDate(b)
	if !ok {
		return 0, false
	}
	if days != 0 { // 0 marks the empty cache
		copy(p.date[:], b)
		p.days = days
	}
	return fastClock(b, days)
}

// num reads n digits at b[i:] as a number, -1 if one is not a digit.
func num(b []byte, i, n int) int {
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// two reads the two digits at b[i:] as a number, -1 if one is not a digit.
func two(b []byte, i int) int {
	_ = b[i+1]
	hi, lo := uint(b[i])-'0', uint(b[i+1])-'0'
	if hi > 9 || lo > 9 {
		return -1
	}
	return int(hi*10 + lo)
}

// fastDate checks the layout of a time and reads its date, YYYY-MM-DD, as
// days since 1970-01-01.
func fastDate(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, mon, day := num(b, 0, 4), num(b, 5, 2), num(b, 8, 2)
	if year < 1 || mon < 1 || mon > 12 || day < 1 || day > daysIn(mon, year) {
		return 0, false
	}
	return daysFromCivil(year, mon, day), true
}

// fastClock reads the rest of a time whose date (fastDate) is days: the
// clock, the fraction and the offset.
func fastClock(b []byte, days int64) (int64, bool) {
	if b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	hh, mm, ss := two(b, 11), two(b, 14), two(b, 17)
	if hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 {
		return 0, false
	}
	i := 19
	ms := 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 3 {
				ms = ms*10 + int(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return 0, false
		}
		for ; n < 3; n++ {
			ms *= 10
		}
	}
	var off int
	switch {
	case i == len(b)-1 && b[i] == 'Z':
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, om := two(b, i+1), two(b, i+4)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, false
		}
		off = (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	sec := days*86400 + int64(hh*3600+mm*60+ss-off)
	return sec*1000 + int64(ms), true
}

func daysIn(mon, year int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the date
// (Howard Hinnant's algorithm, proleptic Gregorian).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseTimeSlow is time.Parse's answer, for tests.
func parseTimeSlow(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UnixMilli(), err == nil
}
