package queue

import (
	"errors"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/partition"
)

// FuzzParseEvent: a message body from the queue (anyone allowed to send to
// it chooses it) never panics the parser; what it accepts is consistent:
// an image event names everything a mapping to services needs, and every
// other accepted event says why it is ignored.
func FuzzParseEvent(f *testing.F) {
	f.Add(guideEvent)
	f.Add(strings.Replace(guideEvent, `"PUSH"`, `"DELETE"`, 1))
	f.Add(`{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{}"}`)
	f.Add(`{"id":"x","source":"aws.s3","detail-type":"Object Created","detail":{}}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		e, err := ParseEvent(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		if e.Image() != (e.Ignored() == "") {
			t.Fatalf("Image %v but Ignored %q: %+v", e.Image(), e.Ignored(), e)
		}
		if e.Image() && (e.Repository == "" || e.Tag == "" || e.Account == "" || e.Region == "" || e.ID == "") {
			t.Fatalf("an image event without what maps it: %+v", e)
		}
	})
}

// FuzzParseURL: --queue never panics the parser, and what it accepts names a
// 12-digit account and a queue.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://sqs.us-east-1.amazonaws.com/123456789012/q", "http://127.0.0.1:1/123456789012/q",
		"https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com/123456789012/q", "https://queue.amazonaws.com/123456789012/q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw)
		if err != nil {
			return
		}
		if !partition.IsAccount(u.Account) || u.Name == "" || strings.Contains(u.Name, "/") {
			t.Fatalf("accepted %q as %+v", raw, u)
		}
		if u.Standard == (u.Endpoint != "") {
			t.Fatalf("%q: standard %v with endpoint %q", raw, u.Standard, u.Endpoint)
		}
	})
}
