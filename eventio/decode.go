// Package eventio reads usage events (SPEC §7.1) from NDJSON streams and
// from JSON objects, validating each one. An NDJSON file is read line by
// line, never loaded whole; a bad line is reported with its line number and
// field, and reading goes on.
package eventio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// MaxLine is the longest NDJSON line accepted.
const MaxLine = 4 << 20

// Decoder reads NDJSON events.
type Decoder struct {
	sc      *bufio.Scanner
	p       *Parser
	line    int
	lineLen int // bytes of the last line read
	source  string
}

// NewDecoder returns a decoder of the NDJSON stream r; source names it in
// error messages.
func NewDecoder(r io.Reader, source string) *Decoder {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256<<10), MaxLine)
	return &Decoder{sc: sc, p: NewParser(), source: source}
}

// Line returns the line number of the last event read.
func (d *Decoder) Line() int { return d.line }

// Next reads the next event into e. It returns io.EOF at the end, a
// *livebill.EventError for a bad line (the caller may go on), or another
// error when the stream itself fails: an EINVALID *livebill.Error for a
// line over MaxLine, which ends the read.
func (d *Decoder) Next(e *livebill.Event) error {
	for d.sc.Scan() {
		d.line++
		b := bytes.TrimSpace(d.sc.Bytes())
		d.lineLen = len(b)
		if len(b) == 0 {
			continue
		}
		err := d.p.Parse(b, e)
		e.Line = d.line
		if err != nil {
			var ee *livebill.EventError
			if errors.As(err, &ee) {
				ee.Line, ee.Source = d.line, d.source
			}
			return err
		}
		return nil
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			// invalid input, like a bad line, but the end of the read:
			// the scanner cannot go past it
			return livebill.Errorf(livebill.EINVALID, "%s: line %d: longer than %d bytes, the longest line accepted", d.source, d.line+1, MaxLine)
		}
		return fmt.Errorf("cannot read %s: %w", d.source, err)
	}
	return io.EOF
}

// flexString accepts a JSON string or number (TRTC room ids can be either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return errors.New("must be a string or a number")
	}
	*f = flexString(b)
	return nil
}

type rawEvent struct {
	ID          flexString           `json:"id"`
	Type        string               `json:"type"`
	Time        string               `json:"time"`
	App         flexString           `json:"app"`
	Room        flexString           `json:"room"`
	User        flexString           `json:"user"`
	Subscribe   string               `json:"subscribe"`
	Client      string               `json:"client"`
	Stream      string               `json:"stream"`
	Media       string               `json:"media"`
	Audio       *bool                `json:"audio"`
	Width       int                  `json:"width"`
	Height      int                  `json:"height"`
	Publisher   flexString           `json:"publisher"`
	Task        flexString           `json:"task"`
	Formats     []string             `json:"formats"`
	Streams     json.RawMessage      `json:"streams"`
	Outputs     []livebill.Output    `json:"outputs"`
	Codec       string               `json:"codec"`
	Output      json.RawMessage      `json:"output"`
	Inputs      []livebill.StreamRef `json:"inputs"`
	Destination string               `json:"destination"`
	BitrateKbps int64                `json:"bitrate_kbps"`
	Count       *int64               `json:"count"`
	Players     int64                `json:"players"`
	DurationUS  json.Number          `json:"duration_us"`
	Session     flexString           `json:"session"`
	Kind        string               `json:"kind"`
}

// Parse decodes one JSON event object and validates it.
func Parse(b []byte, e *livebill.Event) error {
	*e = livebill.Event{}
	var raw rawEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return jsonError(err, shownID(raw.ID))
	}
	if dec.More() {
		return &livebill.EventError{ID: shownID(raw.ID), Reason: "more than one JSON value on the line"}
	}
	if err := fromRaw(&raw, e); err != nil {
		return err
	}
	if err := e.CheckText(); err != nil {
		return err
	}
	return e.Validate()
}

// shownID is the id an error names the event by: none when the id itself
// is not valid (over-long, NUL, …), which Validate reports.
func shownID(id flexString) string {
	if livebill.TextProblem(string(id)) != "" {
		return ""
	}
	return string(id)
}

func fromRaw(raw *rawEvent, e *livebill.Event) error {
	bad := func(field, reason string) error {
		return &livebill.EventError{ID: shownID(raw.ID), Field: field, Reason: reason}
	}
	e.ID = string(raw.ID)
	e.Type = livebill.ParseEventType(raw.Type)
	if e.Type == livebill.EventUnknown {
		if raw.Type == "" {
			return bad("type", "missing")
		}
		return bad("type", fmt.Sprintf("unknown event type %q", raw.Type))
	}
	if raw.Time == "" {
		return bad("time", "missing")
	}
	t, err := ParseTime(raw.Time)
	if err != nil {
		return bad("time", err.Error())
	}
	e.Time = t
	e.App, e.Room, e.User = string(raw.App), string(raw.Room), string(raw.User)
	e.Subscribe, e.Client, e.Stream, e.Media = raw.Subscribe, raw.Client, raw.Stream, raw.Media
	e.NoAudio = raw.Audio != nil && !*raw.Audio
	e.Width, e.Height = raw.Width, raw.Height
	e.Publisher, e.Task = string(raw.Publisher), string(raw.Task)
	e.Formats, e.Outputs, e.Inputs = raw.Formats, raw.Outputs, raw.Inputs
	e.Codec, e.Destination, e.BitrateKbps = raw.Codec, raw.Destination, raw.BitrateKbps
	e.Players = raw.Players
	e.Session, e.Kind = string(raw.Session), raw.Kind
	if raw.DurationUS != "" {
		// Each evaluation is rounded up to 1 µs (SPEC §5): 0.4 → 1.
		d, err := money.Parse(raw.DurationUS.String())
		if err != nil {
			return bad("duration_us", "must be a number of microseconds")
		}
		if d.IsNegative() {
			return bad("duration_us", "negative")
		}
		e.DurationUS = d.Ceil().IntPart()
	}
	if raw.Count != nil {
		e.Count = *raw.Count
	} else if e.Type == livebill.MatchmakingEvaluation {
		e.Count = 1
	}
	if len(raw.Streams) > 0 {
		if err := streamsField(raw.Streams, e); err != nil {
			return bad("streams", err.Error())
		}
	} else if e.Type == livebill.RelayStart {
		e.AllStreams = true // a relay robot receives what it relays
	}
	if len(raw.Output) > 0 {
		if err := outputField(raw.Output, e); err != nil {
			return bad("output", err.Error())
		}
	}
	return nil
}

func streamsField(b json.RawMessage, e *livebill.Event) error {
	if b[0] == '"' {
		var s string
		_ = json.Unmarshal(b, &s)
		if s != "all" {
			return fmt.Errorf(`must be "all" or a list of {user, stream}, not %q`, s)
		}
		e.AllStreams = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e.Streams); err != nil {
		return fmt.Errorf(`must be "all" or a list of {user, stream}: %v`, err)
	}
	return nil
}

func outputField(b json.RawMessage, e *livebill.Event) error {
	if b[0] == '"' {
		var s string
		_ = json.Unmarshal(b, &s)
		if s != "audio" {
			return fmt.Errorf(`must be "audio" or {width, height}, not %q`, s)
		}
		e.OutputAudio = true
		return nil
	}
	var sz struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sz); err != nil {
		return fmt.Errorf(`must be "audio" or {width, height}: %v`, err)
	}
	e.Output = livebill.Size{Width: sz.Width, Height: sz.Height}
	return nil
}

// ParseTime reads an RFC 3339 time with an offset; the result is Unix ms.
func ParseTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("must be RFC 3339 with an offset, e.g. 2024-10-01T10:00:00+08:00, not %q", s)
	}
	return t.UnixMilli(), nil
}

// jsonError turns a decoding error into an EventError naming the field.
func jsonError(err error, id string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &livebill.EventError{ID: id, Field: te.Field, Reason: "must be a " + jsonKind(te.Type.Kind().String()) + ", not " + te.Value}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &livebill.EventError{ID: id, Reason: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &livebill.EventError{ID: id, Field: strings.Trim(f, `"`), Reason: "unknown field"}
	}
	if strings.Contains(msg, "must be a string or a number") {
		return &livebill.EventError{ID: id, Reason: msg}
	}
	return &livebill.EventError{ID: id, Reason: "invalid JSON: " + msg}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32":
		return "whole number"
	case "slice":
		return "list"
	case "struct":
		return "object"
	}
	return k
}
