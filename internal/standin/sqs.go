package standin

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SQS in the protocol aws-sdk-go-v2's service/sqs speaks since v1.28:
// awsJson1_0, POST / with X-Amz-Target: AmazonSQS.<Op>. Errors carry the
// Smithy shape in __type ("com.amazonaws.sqs#QueueDoesNotExist") and the
// awsQuery code in the x-amzn-query-error header, which the SDK prefers
// (AWS.SimpleQueueService.NonExistentQueue;Sender).

const (
	sqsTargetPrefix = "AmazonSQS."
	sqsNamespace    = "com.amazonaws.sqs#"

	// What SQS allows and assumes (the developer guide's quotas).
	maxWaitSeconds       = 20
	maxVisibility        = 12 * time.Hour
	defaultVisibility    = 30 * time.Second
	defaultRetention     = 4 * 24 * time.Hour
	maxReceiveMessages   = 10
	defaultMaxReceives   = 1
	maxMessageBytes      = 262144
	longPollRecheckEvery = 50 * time.Millisecond
)

// sqsError is an SQS error by its Smithy shape name; failSQS adds the
// awsQuery code the model gives the shape.
func sqsError(status int, shape, msg string) *apiError {
	return &apiError{status: status, code: shape, msg: msg}
}

// sqsQueryCodes are the model's awsQueryError codes (and, for the errors
// every AWS JSON service shares, the query protocol's names) where they
// differ from the shape name.
var sqsQueryCodes = map[string]string{
	"QueueDoesNotExist":                   "AWS.SimpleQueueService.NonExistentQueue",
	"AccessDeniedException":               "AccessDenied",
	"MessageNotInflight":                  "AWS.SimpleQueueService.MessageNotInflight",
	"QueueNameExists":                     "QueueAlreadyExists",
	"UnknownOperationException":           "InvalidAction",
	"MissingAuthenticationTokenException": "MissingAuthenticationToken",
	"IncompleteSignatureException":        "IncompleteSignature",
	"UnrecognizedClientException":         "InvalidClientTokenId",
	"ExpiredTokenException":               "ExpiredToken",
	"InvalidSignatureException":           "SignatureDoesNotMatch",
}

// coralShapes are the errors every AWS JSON service shares, namespaced
// as coral's rather than the service's.
var coralShapes = map[string]bool{"AccessDeniedException": true, "UnknownOperationException": true, "MissingAuthenticationTokenException": true,
	"IncompleteSignatureException": true, "UnrecognizedClientException": true, "ExpiredTokenException": true, "InvalidSignatureException": true}

// failSQS writes an SQS JSON error: the namespaced shape in __type and the
// awsQuery code in x-amzn-query-error, which the SDK takes as the code.
func (c *call) failSQS(e *apiError) {
	query, ok := sqsQueryCodes[e.code]
	if !ok {
		query = e.code
	}
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	shape := sqsNamespace + e.code
	if coralShapes[e.code] {
		shape = "com.amazon.coral.service#" + e.code
	}
	c.w.Header().Set("X-Amzn-Query-Error", query+";"+fault)
	c.writeJSON(e.status, map[string]string{"__type": shape, "message": e.msg})
}

func errNoQueue() *apiError {
	return sqsError(http.StatusBadRequest, "QueueDoesNotExist", "The specified queue does not exist.")
}

func errInvalidParameter(msg string) *apiError {
	return sqsError(http.StatusBadRequest, "InvalidParameterValue", msg)
}

func errReceiptHandle(h string) *apiError {
	return sqsError(http.StatusNotFound, "ReceiptHandleIsInvalid",
		fmt.Sprintf("The input receipt handle \"%s\" is not a valid receipt handle.", h))
}

// queue is one standard SQS queue.
type queue struct {
	name, account, region string
	created, modified     time.Time
	attrs                 map[string]string // settable attributes, as SQS stores them (strings)

	messages []*message
	wake     chan struct{} // closed and replaced whenever a message may have become receivable
	polls    int           // receives being answered, see Receiving
}

func (q *queue) arn() string { return "arn:aws:sqs:" + q.region + ":" + q.account + ":" + q.name }

func (q *queue) seconds(attr string, def time.Duration) time.Duration {
	if v, err := strconv.Atoi(q.attrs[attr]); err == nil {
		return time.Duration(v) * time.Second
	}
	return def
}

// notify wakes the long polls waiting on q. Call with s.mu held.
func (q *queue) notify() {
	close(q.wake)
	q.wake = make(chan struct{})
}

type message struct {
	id, body, md5 string
	sent          time.Time
	senderID      string
	receives      int
	firstReceive  time.Time
	visibleAt     time.Time
	handle        string // the latest receipt handle; older ones delete nothing
}

// QueueOptions are the attributes a queue is created with.
type QueueOptions struct {
	// Account owns the queue (default: the server's account).
	Account string
	// VisibilityTimeout is the queue's default (SQS: 30s).
	VisibilityTimeout time.Duration
	// Retention is MessageRetentionPeriod (SQS: 4 days).
	Retention time.Duration
	// DeadLetterQueue (an ARN) and MaxReceiveCount make the RedrivePolicy.
	DeadLetterQueue string
	MaxReceiveCount int
}

// CreateQueue creates a standard queue (or returns the existing one's URL) and
// returns its URL: the server's URL, then /ACCOUNT/NAME, as SQS's own.
func (s *Server) CreateQueue(name string, o QueueOptions) string {
	attrs := map[string]string{}
	if o.VisibilityTimeout > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(int(o.VisibilityTimeout / time.Second))
	}
	if o.Retention > 0 {
		attrs["MessageRetentionPeriod"] = strconv.Itoa(int(o.Retention / time.Second))
	}
	if o.DeadLetterQueue != "" {
		n := max(o.MaxReceiveCount, defaultMaxReceives)
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, o.DeadLetterQueue, n)
	}
	account := o.Account
	if account == "" {
		account = s.set.account
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createQueueLocked(account, name, attrs)
}

func (s *Server) createQueueLocked(account, name string, attrs map[string]string) string {
	key := account + "/" + name
	if q, ok := s.queues[key]; ok {
		for k, v := range attrs {
			q.attrs[k] = v
		}
		return s.URL() + "/" + key
	}
	now := s.Now()
	q := &queue{name: name, account: account, region: s.set.region, created: now, modified: now, attrs: map[string]string{}, wake: make(chan struct{})}
	for k, v := range attrs {
		q.attrs[k] = v
	}
	s.queues[key] = q
	return s.URL() + "/" + key
}

// QueueARN is the ARN of the queue at url, or "" when there is none.
func (s *Server) QueueARN(queueURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueLocked(queueURL); q != nil {
		return q.arn()
	}
	return ""
}

// SetQueuePolicy replaces the queue's resource policy (a JSON document).
func (s *Server) SetQueuePolicy(queueURL, policy string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueLocked(queueURL)
	if q == nil {
		return fmt.Errorf("standin: no queue %s", queueURL)
	}
	if _, err := parsePolicy(policy); err != nil {
		return err
	}
	q.attrs["Policy"] = policy
	return nil
}

// QueueDepth is how many messages the queue holds: visible, and in flight.
func (s *Server) QueueDepth(queueURL string) (visible, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueLocked(queueURL)
	if q == nil {
		return 0, 0
	}
	now := s.Now()
	s.expireLocked(q, now)
	for _, m := range q.messages {
		if now.Before(m.visibleAt) {
			inFlight++
		} else {
			visible++
		}
	}
	return visible, inFlight
}

// Receiving is how many receives of the queue are being answered: a long
// poll of a consumer that was killed lasts until the stand-in sees its
// connection close, and takes what becomes visible meanwhile, as SQS would.
// A test that reveals a dead consumer's messages waits for none first.
func (s *Server) Receiving(queueURL string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueLocked(queueURL); q != nil {
		return q.polls
	}
	return 0
}

// RevealInFlight makes every in-flight message of the queue visible now, as
// if its visibility timeout had passed: a test of a consumer that died
// holding messages need not wait the timeout out (the clock cannot move
// far without breaking SigV4's five-minute window).
func (s *Server) RevealInFlight(queueURL string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueLocked(queueURL)
	if q == nil {
		return 0
	}
	now := s.Now()
	n := 0
	for _, m := range q.messages {
		if m.receives > 0 && now.Before(m.visibleAt) {
			m.visibleAt = now
			n++
		}
	}
	q.notify()
	return n
}

// queueLocked finds a queue by URL: any scheme and host (clients may reach
// the stand-in by another name), path /ACCOUNT/NAME.
func (s *Server) queueLocked(queueURL string) *queue {
	u, err := url.Parse(queueURL)
	if err != nil {
		return nil
	}
	return s.queues[strings.Trim(u.Path, "/")]
}

func (s *Server) queueByARNLocked(arn string) *queue {
	for _, q := range s.queues {
		if q.arn() == arn {
			return q
		}
	}
	return nil
}

func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// enqueueLocked adds a message as SendMessage (or an EventBridge target) does.
func (s *Server) enqueueLocked(q *queue, body, sender string, delay time.Duration, now time.Time) *message {
	m := &message{id: uuid(), body: body, md5: bodyMD5(body), sent: now, senderID: sender, visibleAt: now.Add(delay)}
	q.messages = append(q.messages, m)
	q.notify()
	return m
}

type messageJSON struct {
	MessageID     string            `json:"MessageId"`
	ReceiptHandle string            `json:"ReceiptHandle"`
	MD5OfBody     string            `json:"MD5OfBody"`
	Body          string            `json:"Body"`
	Attributes    map[string]string `json:"Attributes,omitempty"`
}

// longPoll returns up to n messages, waiting up to wait for the first one
// (real time: the request is real, whatever the clock says), or until the
// client goes away.
func (s *Server) longPoll(ctx context.Context, q *queue, n int, wait, visibility time.Duration, attrs []string) []messageJSON {
	if ctx == nil {
		ctx = context.Background()
	}
	s.mu.Lock()
	q.polls++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		q.polls--
		s.mu.Unlock()
	}()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got := s.takeLocked(q, n, visibility, attrs)
		wake, inFlight := q.wake, len(q.messages) > 0
		s.mu.Unlock()
		if len(got) > 0 || wait == 0 {
			return got
		}
		// In-flight messages become receivable as the clock passes their
		// visibility timeout, which no event announces: look again soon.
		var recheck <-chan time.Time
		if inFlight {
			recheck = time.After(longPollRecheckEvery)
		}
		select {
		case <-wake:
		case <-recheck:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// takeLocked receives up to n visible messages: each gets a new receipt
// handle, its receive count goes up and it hides for visibility. A message
// received maxReceiveCount times moves to the dead-letter queue instead.
func (s *Server) takeLocked(q *queue, n int, visibility time.Duration, attrs []string) []messageJSON {
	now := s.Now()
	s.expireLocked(q, now)
	dlq, maxReceives := s.redriveLocked(q)
	var out []messageJSON
	kept := q.messages[:0]
	for _, m := range q.messages {
		if len(out) == n || now.Before(m.visibleAt) {
			kept = append(kept, m)
			continue
		}
		if dlq != nil && m.receives >= maxReceives {
			// The receive that would exceed maxReceiveCount moves it;
			// its age (and so its retention) carries over, as in SQS.
			m.visibleAt, m.handle = now, ""
			dlq.messages = append(dlq.messages, m)
			dlq.notify()
			continue
		}
		m.receives++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.visibleAt = now.Add(visibility)
		m.handle = newReceiptHandle(q, m)
		out = append(out, m.json(attrs))
		kept = append(kept, m)
	}
	q.messages = kept
	return out
}

func (s *Server) redriveLocked(q *queue) (*queue, int) {
	raw, ok := q.attrs["RedrivePolicy"]
	if !ok {
		return nil, 0
	}
	var rp redrivePolicy
	if json.Unmarshal([]byte(raw), &rp) != nil {
		return nil, 0
	}
	return s.queueByARNLocked(rp.DeadLetterTargetARN), rp.MaxReceiveCount
}

// expireLocked drops messages older than the retention period.
func (s *Server) expireLocked(q *queue, now time.Time) {
	retention := q.seconds("MessageRetentionPeriod", defaultRetention)
	q.messages = slices.DeleteFunc(q.messages, func(m *message) bool { return now.Sub(m.sent) >= retention })
}

func (m *message) json(names []string) messageJSON {
	all := slices.Contains(names, "All")
	out := messageJSON{MessageID: m.id, ReceiptHandle: m.handle, MD5OfBody: m.md5, Body: m.body}
	for name, v := range map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"SenderId":                         m.senderID,
	} {
		if all || slices.Contains(names, name) {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = v
		}
	}
	return out
}

// A receipt handle names its queue and message and is new on every receive.
func newReceiptHandle(q *queue, m *message) string {
	return base64.StdEncoding.EncodeToString([]byte(q.account + "/" + q.name + " " + m.id + " " + randomID(24)))
}

// parseReceiptHandle returns the message ID a handle of q names; ok is
// false for a handle SQS would call invalid.
func parseReceiptHandle(q *queue, h string) (id string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	parts := strings.Split(string(raw), " ")
	if len(parts) != 3 || parts[0] != q.account+"/"+q.name {
		return "", false
	}
	return parts[1], true
}

// messageByHandle finds the message a handle names, and whether the handle
// is its latest: SQS accepts an outdated handle but then may not act on it.
func (q *queue) messageByHandle(h string) (m *message, current, valid bool) {
	id, ok := parseReceiptHandle(q, h)
	if !ok {
		return nil, false, false
	}
	for _, m := range q.messages {
		if m.id == id {
			return m, m.handle == h, true
		}
	}
	return nil, false, true
}

// uuid is a random version-4 UUID, the shape of SQS message IDs and
// EventBridge event IDs.
func uuid() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
