package meter

// This file holds the rules that decide what a participant accrues at an
// instant (SPEC §2, §3, §5 HST). Everything else in the package is
// bookkeeping: who is in the room, which streams run, and for how long.

import "github.com/livebill/livebill"

type model uint8

const (
	modelNone model = iota
	modelTRTC
	modelHST
	modelFlexMatch
)

// charge is one item a participant accrues, mult times over.
type charge struct {
	item uint16
	mult int64
}

// modelItems are the interned ids of a model's items, by tier index.
type modelItems struct {
	avAudio  uint16
	av       []uint16 // trtc.av.<tier>
	recAudio uint16
	rec      []uint16
	dlvAudio map[string]uint16   // destination → trtc.delivery.<dest>.audio
	dlv      map[string][]uint16 // destination → trtc.delivery.<dest>.<tier>
	tcAudio  uint16
	tc       map[string][]uint16 // codec → trtc.transcode.<codec>.<tier>

	hstAudio, hstScreen, miniAudio, miniVideo uint16
	hstVideo                                  []uint16
}

func (m *Meter) internModel() modelItems {
	var ids modelItems
	tiers := m.cat.ResolutionTiers
	each := func(prefix string) []uint16 {
		out := make([]uint16, len(tiers))
		for i, t := range tiers {
			out[i] = m.intern(prefix + t.Name)
		}
		return out
	}
	switch m.model {
	case modelTRTC:
		ids.avAudio, ids.av = m.intern("trtc.av.audio"), each("trtc.av.")
		ids.recAudio, ids.rec = m.intern("trtc.recording.audio"), each("trtc.recording.")
		ids.dlvAudio, ids.dlv = map[string]uint16{}, map[string][]uint16{}
		for _, d := range []string{"tencent", "third_party"} {
			ids.dlvAudio[d] = m.intern("trtc.delivery." + d + ".audio")
			ids.dlv[d] = each("trtc.delivery." + d + ".")
		}
		ids.tcAudio = m.intern("trtc.transcode.audio")
		ids.tc = map[string][]uint16{"h264": each("trtc.transcode.h264."), "h265": each("trtc.transcode.h265.")}
	case modelHST:
		ids.hstAudio, ids.hstVideo = m.intern("hst.audio"), each("hst.video.")
		ids.hstScreen = m.intern("hst.screen")
		ids.miniAudio, ids.miniVideo = m.intern("hst.miniprogram.audio"), m.intern("hst.miniprogram.video")
	}
	return ids
}

// tier returns the resolution tier of an aggregate area, noting aggregates
// above the top tier.
func (m *Meter) tier(r *room, area int64) int {
	t, above := m.cat.TierOf(area)
	if above && !r.aboveTop {
		// Notices are per app: once per room is enough, and spares
		// re-rating a map write.
		r.aboveTop = true
		m.notice("resolution_above_top_tier", r.app.ID)
	}
	return t
}

// chargesOf appends what p accrues now to out.
func (m *Meter) chargesOf(r *room, p *participant, out []charge) []charge {
	if m.model == modelHST {
		return m.hstCharges(r, p, out)
	}
	out = append(out, m.avCharge(r, p))
	if p.task == nil {
		return out
	}
	switch p.kind {
	case kindRecording:
		out = m.recordingCharges(r, p.task, out)
	case kindTranscode:
		out = m.transcodeCharges(r, p.task, out)
	}
	// What does not depend on the room's streams was worked out when the
	// task started (taskCharges).
	if len(p.task.fixed) > 0 {
		out = append(out, p.task.fixed...)
	}
	return out
}

// taskCharges sets the charges of a task that never change while it runs,
// so re-rating its robot on every stream change does not redo them: a
// recording's delivered output files and a pull-stream input. It also
// resolves the transcoding items of the output codec. Called when the task
// starts or is updated, before its robot is first rated.
func (m *Meter) taskCharges(r *room, kind partKind, tk *task, outputs []livebill.Output) {
	tk.fixed = tk.fixed[:0]
	switch kind {
	case kindRecording:
		// Each delivered output file counts its task's time at the file's
		// output tier. Delivery to vod is free and not metered.
		for _, o := range outputs {
			if o.Destination == livebill.DestVOD {
				continue
			}
			if o.AudioOnly() {
				tk.fixed = append(tk.fixed, charge{m.ids.dlvAudio[o.Destination], 1})
			} else {
				tk.fixed = append(tk.fixed, charge{m.ids.dlv[o.Destination][m.tier(r, o.VideoArea())], 1})
			}
		}
	case kindTranscode:
		tk.tc = m.ids.tc[tk.codec]
	case kindInput:
		// A pulled-in stream is billed as H.264 transcoding input time.
		if in := tk.input; in.video {
			tk.fixed = append(tk.fixed, charge{m.ids.tc["h264"][m.tier(r, in.area)], 1})
		} else {
			tk.fixed = append(tk.fixed, charge{m.ids.tcAudio, 1})
		}
	}
}

// receivedArea is the TRTC aggregate resolution a participant receives:
// the sum of the areas of the video streams it is subscribed to that are
// running with video. A big stream counts at the publisher's size, a small
// stream at the size actually received, a screen share at its own size.
func (r *room) receivedArea(p *participant) int64 {
	switch p.recv {
	case recvAudio:
		return 0
	case recvAll:
		// Every other participant's main and screen video, plus explicit
		// small-stream subscriptions, less what it unsubscribed from.
		area := r.allArea - p.ownArea
		if len(p.subs) == 0 {
			return area
		}
		for _, sb := range p.subs {
			k := sb.key
			s := sb.st
			if !s.on || !s.video || k.user == p.id {
				continue
			}
			switch {
			case sb.off:
				area -= s.area
			case k.kind == kSmall:
				area += sb.areaOf(k, s)
			}
		}
		return area
	}
	var area int64
	for _, sb := range p.subs {
		k := sb.key
		if s := sb.st; s.on && s.video && k.user != p.id && !sb.off {
			area += sb.areaOf(k, s)
		}
	}
	return area
}

// areaOf is the area a subscriber receives of stream s: a small stream at
// the size actually received when the subscription states it, a big stream
// and a screen share at the publisher's size (SPEC §2; HST uses the same).
func (sb sub) areaOf(k streamKey, s *stream) int64 {
	if k.kind == kSmall && sb.area > 0 {
		return sb.area
	}
	return s.area
}

// avCharge is the TRTC A/V rule (SPEC §2): receiving any video → the video
// tier of the summed areas; otherwise audio (in the room only, publishing
// only, receiving audio only, alone in the room).
func (m *Meter) avCharge(r *room, p *participant) charge {
	if area := r.receivedArea(p); area > 0 {
		return charge{m.ids.av[m.tier(r, area)], 1}
	}
	return charge{m.ids.avAudio, 1}
}

// recordedArea is the summed area of the video streams a recording task
// records at this instant.
func (r *room) recordedArea(tk *task) int64 {
	if tk.audioOnly {
		return 0
	}
	if tk.all {
		return r.allArea
	}
	var area int64
	for _, rf := range tk.refs {
		if s := rf.st; s.on && s.video {
			area += s.area
		}
	}
	return area
}

// recordingCharges (SPEC §3): one task counts once however many streams,
// at the tier of the recorded aggregate (audio when none has video), once
// per output format. The delivered output files are in the task's fixed
// charges (taskCharges).
func (m *Meter) recordingCharges(r *room, tk *task, out []charge) []charge {
	item := m.ids.recAudio
	if area := r.recordedArea(tk); area > 0 {
		item = m.ids.rec[m.tier(r, area)]
	}
	return append(out, charge{item, tk.formats})
}

// transcodeCharges (SPEC §3, input-time billing): video input time at the
// tier of the summed input areas priced by output codec; an output more
// than twice the inputs adds one input of the output's area; a video output
// with no video input counts a black-frame input of the output's area.
// Audio-only inputs count as one audio stream when no input has video,
// otherwise each adds its own audio time.
func (m *Meter) transcodeCharges(r *room, tk *task, out []charge) []charge {
	var videoArea, audioOnly int64
	for _, rf := range tk.refs {
		s := rf.st
		switch {
		case !s.on:
		case s.video:
			videoArea += s.area
		case s.audio:
			audioOnly++
		}
	}
	realVideo := videoArea > 0
	if !tk.outAudio {
		if !realVideo {
			videoArea = tk.outArea // black frame
		} else if tk.outArea > 2*videoArea {
			videoArea += tk.outArea
		}
	}
	if videoArea > 0 {
		out = append(out, charge{tk.tc[m.tier(r, videoArea)], 1})
	}
	switch {
	case audioOnly == 0:
	case realVideo:
		out = append(out, charge{m.ids.tcAudio, audioOnly})
	default:
		out = append(out, charge{m.ids.tcAudio, 1})
	}
	return out
}

// hstCharges is the HST rule (SPEC §5): the receiver pays, and every
// received stream counts separately — audio, video by the stream's own
// tier, screen share. A mini-program endpoint pays its own rates (no video
// tier) and pays for the streams it sends too.
func (m *Meter) hstCharges(r *room, p *participant, out []charge) []charge {
	add := func(item uint16) {
		for i := range out {
			if out[i].item == item {
				out[i].mult++
				return
			}
		}
		out = append(out, charge{item, 1})
	}
	video := func(k streamKey, area int64) {
		switch {
		case p.mini:
			add(m.ids.miniVideo)
		case k.kind == kScreen:
			add(m.ids.hstScreen)
		default:
			add(m.ids.hstVideo[m.tier(r, area)])
		}
	}
	audio := m.ids.hstAudio
	if p.mini {
		audio = m.ids.miniAudio
	}
	for _, k := range r.streams {
		s := k.user.slots[k.kind]
		if !s.on {
			continue
		}
		if k.user == p.id {
			if p.mini { // sent streams
				if s.audio {
					add(audio)
				}
				if s.video {
					add(m.ids.miniVideo)
				}
			}
			continue
		}
		sb, explicit := p.subs.get(k)
		if s.audio && !(explicit && sb.off) {
			add(audio) // audio is received from every publisher
		}
		if !s.video || p.recv == recvAudio {
			continue
		}
		recv := explicit && !sb.off
		if p.recv == recvAll && k.kind != kSmall {
			recv = !explicit || !sb.off
		}
		if recv {
			video(k, sb.areaOf(k, s))
		}
	}
	// Map iteration order varies; keep charges in a stable order so equal
	// states compare equal.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].item < out[j-1].item; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
