package fluentd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// eventTime is the Forward protocol's EventTime: msgpack extension 0,
// seconds and nanoseconds as big-endian uint32s.
type eventTime time.Time

const eventTimeExt = 0

func init() {
	msgpack.RegisterExt(eventTimeExt, (*eventTime)(nil))
}

func (t *eventTime) MarshalMsgpack() ([]byte, error) {
	tt := time.Time(*t)
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, uint32(tt.Unix()))
	binary.BigEndian.PutUint32(b[4:], uint32(tt.Nanosecond()))
	return b, nil
}

func (t *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("fluentd: EventTime of %d bytes", len(b))
	}
	*t = eventTime(time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:]))))
	return nil
}

// encodeEvent is one event in Message Mode: [tag, time, record]. The time
// is whole seconds, or an EventTime with fluentd-sub-second-precision.
func encodeEvent(tag string, t time.Time, record map[string]string, subSecond bool) ([]byte, error) {
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	enc.SetSortMapKeys(true)
	var when any = t.Unix()
	if subSecond {
		et := eventTime(t)
		when = &et
	}
	if err := enc.Encode([]any{tag, when, record}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
