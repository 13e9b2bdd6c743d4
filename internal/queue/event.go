package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is an ECR "ECR Image Action" event as EventBridge delivers it into
// the queue: the message body is the event JSON itself.
type Event struct {
	ID         string
	DetailType string
	Source     string
	Account    string
	Region     string
	Time       time.Time

	Result     string // SUCCESS or FAILURE
	Action     string // PUSH or DELETE
	Repository string
	Digest     string
	Tag        string // "" for a push by digest
}

// Kinds of event that watch acts on, and those it deliberately ignores.
const (
	DetailType = "ECR Image Action"
	Source     = "aws.ecr"
	Push       = "PUSH"
	Success    = "SUCCESS"
)

// Image reports whether the event is a successful push by tag: the one kind
// that can change what a tag resolves to. Deletes, failures and pushes by
// digest cannot, and are ignored on purpose.
func (e Event) Image() bool {
	return e.DetailType == DetailType && e.Source == Source && e.Action == Push && e.Result == Success && e.Tag != ""
}

// Ignored says why an event is deliberately ignored, "" when it is not.
func (e Event) Ignored() string {
	switch {
	case e.Source != Source || e.DetailType != DetailType:
		return fmt.Sprintf("not an ECR image action (%s from %s)", e.DetailType, e.Source)
	case e.Result != Success:
		return "the " + strings.ToLower(e.Action) + " failed (result " + e.Result + ")"
	case e.Action != Push:
		return strings.ToLower(e.Action) + " of an image"
	case e.Tag == "":
		return "a push by digest moves no tag"
	}
	return ""
}

// maxID bounds an event's id: EventBridge's are UUIDs, and the journal
// keeps hundreds of them.
const maxID = 128

// ErrMalformed marks a message that is not an EventBridge event: watch logs
// it and leaves it to the queue's redrive policy.
var ErrMalformed = errors.New("not an EventBridge event")

// ParseEvent reads a message body. A well-formed EventBridge event of another
// kind parses (Ignored says so); anything else is ErrMalformed. An event that
// came through an SNS topic without raw message delivery is unwrapped from
// SNS's envelope.
func ParseEvent(body string) (Event, error) {
	var sns struct {
		Type, TopicArn, Message string
	}
	if json.Unmarshal([]byte(body), &sns) == nil && sns.Type == "Notification" && sns.TopicArn != "" && sns.Message != "" {
		body = sns.Message
	}
	var raw struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType *string         `json:"detail-type"`
		Source     *string         `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if raw.DetailType == nil || raw.Source == nil || raw.ID == "" || len(raw.Detail) == 0 {
		return Event{}, fmt.Errorf("%w: it lacks id, detail-type, source or detail", ErrMalformed)
	}
	if len(raw.ID) > maxID {
		return Event{}, fmt.Errorf("%w: an id of %d bytes (EventBridge's are UUIDs)", ErrMalformed, len(raw.ID))
	}
	e := Event{ID: raw.ID, DetailType: *raw.DetailType, Source: *raw.Source, Account: raw.Account, Region: raw.Region}
	if t, err := time.Parse(time.RFC3339, raw.Time); err == nil {
		e.Time = t
	}
	if e.Source != Source || e.DetailType != DetailType {
		return e, nil
	}
	var d struct {
		Result     string `json:"result"`
		Repository string `json:"repository-name"`
		Digest     string `json:"image-digest"`
		Action     string `json:"action-type"`
		Tag        string `json:"image-tag"`
	}
	if err := json.Unmarshal(raw.Detail, &d); err != nil {
		return Event{}, fmt.Errorf("%w: its detail: %v", ErrMalformed, err)
	}
	if d.Result == "" || d.Action == "" || d.Repository == "" || e.Account == "" || e.Region == "" {
		return Event{}, fmt.Errorf("%w: an ECR image action without account, region, result, action-type or repository-name", ErrMalformed)
	}
	e.Result, e.Action, e.Repository, e.Digest, e.Tag = d.Result, d.Action, d.Repository, d.Digest, d.Tag
	return e, nil
}
