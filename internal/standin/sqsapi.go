package standin

// The SQS operations the stand-in serves, in the JSON shapes of the SQS
// model (see sqs.go for the protocol).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sqsHandler is the handler of an AmazonSQS.<op> operation, nil for one the
// stand-in does not serve.
func (s *Server) sqsHandler(op string) func(*call, principal, []byte, time.Time) {
	return map[string]func(*call, principal, []byte, time.Time){
		"CreateQueue":             s.sqsCreateQueue,
		"GetQueueUrl":             s.sqsGetQueueURL,
		"GetQueueAttributes":      s.sqsGetQueueAttributes,
		"SetQueueAttributes":      s.sqsSetQueueAttributes,
		"SendMessage":             s.sqsSendMessage,
		"ReceiveMessage":          s.sqsReceiveMessage,
		"DeleteMessage":           s.sqsDeleteMessage,
		"ChangeMessageVisibility": s.sqsChangeVisibility,
		"PurgeQueue":              s.sqsPurgeQueue,
	}[op]
}

// serveSQS answers one AmazonSQS.<op> call once it is authenticated.
func (s *Server) serveSQS(c *call, p principal, r *http.Request, body []byte, now time.Time) {
	h := s.sqsHandler(c.action)
	if h == nil {
		c.fail(sqsError(http.StatusBadRequest, "UnknownOperationException", "The action or operation requested is invalid."))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		// awsJson1_0 is the one framing SQS's JSON endpoint takes.
		c.fail(sqsError(http.StatusBadRequest, "InvalidParameterValue", "Content-Type "+ct+" is not application/x-amz-json-1.0"))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	c.ctx = r.Context()
	h(c, p, body, now)
}

// sqsInput decodes a request body, answering SQS's error for bad JSON.
func sqsInput(c *call, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		c.fail(sqsError(http.StatusBadRequest, "InvalidParameterValue", "The request body is not valid JSON: "+err.Error()))
		return false
	}
	return true
}

// queueRequest is the part of a request that names an existing queue.
type queueRequest struct {
	QueueURL string `json:"QueueUrl"`
}

func (r *queueRequest) queueURL() string { return r.QueueURL }

// queueInput decodes a request that names a queue (in embeds queueRequest)
// and finds that queue, answering SQS's error when the body is bad or p may
// not call action on it.
func (s *Server) queueInput(c *call, p principal, body []byte, action string, in interface{ queueURL() string }) (*queue, bool) {
	if !sqsInput(c, body, in) {
		return nil, false
	}
	return s.accessQueue(c, p, in.queueURL(), action)
}

// accessQueue finds the queue and checks that p may call action on it: its
// own account's principals unless IAM denies them, others only when the
// queue policy allows them.
func (s *Server) accessQueue(c *call, p principal, queueURL, action string) (*queue, bool) {
	s.mu.Lock()
	q := s.queueLocked(queueURL)
	var policy string
	if q != nil {
		policy = q.attrs["Policy"]
	}
	s.mu.Unlock()
	if q == nil {
		c.fail(errNoQueue())
		return nil, false
	}
	resource := q.arn()
	allowed := p.account == q.account
	if !allowed && policy != "" {
		if doc, err := parsePolicy(policy); err == nil {
			allowed = doc.allows(awsPrincipal(p), action, resource, nil)
		}
	}
	if !allowed || s.denied(p, action) {
		c.fail(sqsError(http.StatusForbidden, "AccessDeniedException", fmt.Sprintf(
			"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
			p.arn, strings.ToLower(action), resource, strings.ToLower(action))))
		return nil, false
	}
	return q, true
}

func (s *Server) sqsCreateQueue(c *call, p principal, body []byte, _ time.Time) {
	var in struct {
		QueueName  string            `json:"QueueName"`
		Attributes map[string]string `json:"Attributes"`
	}
	if !sqsInput(c, body, &in) {
		return
	}
	if in.QueueName == "" || len(in.QueueName) > 80 || strings.Trim(in.QueueName, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		c.fail(errInvalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"))
		return
	}
	if s.denied(p, "sqs:CreateQueue") {
		c.fail(sqsError(http.StatusForbidden, "AccessDeniedException", "Access to the resource "+in.QueueName+" is denied."))
		return
	}
	if err := validateQueueAttributes(in.Attributes); err != nil {
		c.fail(err)
		return
	}
	s.mu.Lock()
	u := s.createQueueLocked(p.account, in.QueueName, in.Attributes)
	s.mu.Unlock()
	s.answerJSON(c, map[string]string{"QueueUrl": u})
}

func (s *Server) sqsGetQueueURL(c *call, p principal, body []byte, _ time.Time) {
	var in struct {
		QueueName string `json:"QueueName"`
		Owner     string `json:"QueueOwnerAWSAccountId"`
	}
	if !sqsInput(c, body, &in) {
		return
	}
	owner := in.Owner
	if owner == "" {
		owner = p.account
	}
	u := s.URL() + "/" + owner + "/" + in.QueueName
	if _, ok := s.accessQueue(c, p, u, "sqs:GetQueueUrl"); !ok {
		return
	}
	s.answerJSON(c, map[string]string{"QueueUrl": u})
}

// queueAttributeNames are the attributes GetQueueAttributes knows, "All"
// standing for every one.
var queueAttributeNames = []string{"All", "Policy", "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "LastModifiedTimestamp",
	"QueueArn", "ApproximateNumberOfMessagesDelayed", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "RedrivePolicy",
	"SqsManagedSseEnabled"}

// settableAttributes are those CreateQueue and SetQueueAttributes take.
var settableAttributes = []string{"Policy", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
	"ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "MaximumMessageSize", "SqsManagedSseEnabled"}

func validateQueueAttributes(attrs map[string]string) *apiError {
	for k, v := range attrs {
		if !slices.Contains(settableAttributes, k) {
			return sqsError(http.StatusBadRequest, "InvalidAttributeName", "Unknown Attribute "+k+".")
		}
		switch k {
		case "Policy":
			if _, err := parsePolicy(v); err != nil {
				return sqsError(http.StatusBadRequest, "InvalidAttributeValue", "Invalid value for the parameter Policy.")
			}
		case "RedrivePolicy":
			var rp redrivePolicy
			if json.Unmarshal([]byte(v), &rp) != nil || rp.DeadLetterTargetARN == "" || rp.MaxReceiveCount < 1 || rp.MaxReceiveCount > 1000 {
				return sqsError(http.StatusBadRequest, "InvalidAttributeValue",
					"Value "+v+" for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.")
			}
		case "SqsManagedSseEnabled":
		default:
			if _, err := strconv.Atoi(v); err != nil {
				return sqsError(http.StatusBadRequest, "InvalidAttributeValue", "Invalid value for the parameter "+k+".")
			}
		}
	}
	return nil
}

type redrivePolicy struct {
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// UnmarshalJSON takes maxReceiveCount as a number or a string: SQS accepts
// both and the console writes numbers.
func (r *redrivePolicy) UnmarshalJSON(b []byte) error {
	var raw struct {
		DeadLetterTargetARN string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.Trim(string(raw.MaxReceiveCount), `"`))
	if err != nil {
		return fmt.Errorf("maxReceiveCount: %w", err)
	}
	r.DeadLetterTargetARN, r.MaxReceiveCount = raw.DeadLetterTargetARN, n
	return nil
}

func (s *Server) sqsGetQueueAttributes(c *call, p principal, body []byte, now time.Time) {
	var in struct {
		queueRequest
		AttributeNames []string `json:"AttributeNames"`
	}
	q, ok := s.queueInput(c, p, body, "sqs:GetQueueAttributes", &in)
	if !ok {
		return
	}
	for _, n := range in.AttributeNames {
		if !slices.Contains(queueAttributeNames, n) {
			c.fail(sqsError(http.StatusBadRequest, "InvalidAttributeName", "Unknown Attribute "+n+"."))
			return
		}
	}
	want := func(n string) bool {
		return slices.Contains(in.AttributeNames, "All") || slices.Contains(in.AttributeNames, n)
	}
	out := map[string]string{}
	s.mu.Lock()
	s.expireLocked(q, now)
	var visible, inFlight, delayed int
	for _, m := range q.messages {
		switch {
		case m.receives == 0 && now.Before(m.visibleAt):
			delayed++
		case now.Before(m.visibleAt):
			inFlight++
		default:
			visible++
		}
	}
	all := map[string]string{
		"QueueArn":                              q.arn(),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"VisibilityTimeout":                     strconv.Itoa(int(q.seconds("VisibilityTimeout", defaultVisibility) / time.Second)),
		"MessageRetentionPeriod":                strconv.Itoa(int(q.seconds("MessageRetentionPeriod", defaultRetention) / time.Second)),
		"MaximumMessageSize":                    strconv.Itoa(maxMessageBytes),
		"DelaySeconds":                          strconv.Itoa(int(q.seconds("DelaySeconds", 0) / time.Second)),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(int(q.seconds("ReceiveMessageWaitTimeSeconds", 0) / time.Second)),
		"SqsManagedSseEnabled":                  "true",
	}
	for _, k := range []string{"Policy", "RedrivePolicy"} {
		if v, ok := q.attrs[k]; ok {
			all[k] = v
		}
	}
	s.mu.Unlock()
	for k, v := range all {
		if want(k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		s.answerJSON(c, struct{}{})
		return
	}
	s.answerJSON(c, map[string]any{"Attributes": out})
}

func (s *Server) sqsSetQueueAttributes(c *call, p principal, body []byte, now time.Time) {
	var in struct {
		queueRequest
		Attributes map[string]string `json:"Attributes"`
	}
	q, ok := s.queueInput(c, p, body, "sqs:SetQueueAttributes", &in)
	if !ok {
		return
	}
	if err := validateQueueAttributes(in.Attributes); err != nil {
		c.fail(err)
		return
	}
	s.mu.Lock()
	for k, v := range in.Attributes {
		q.attrs[k] = v
	}
	q.modified = now
	s.mu.Unlock()
	s.answerJSON(c, struct{}{})
}

func (s *Server) sqsSendMessage(c *call, p principal, body []byte, now time.Time) {
	var in struct {
		queueRequest
		MessageBody  string `json:"MessageBody"`
		DelaySeconds int    `json:"DelaySeconds"`
	}
	q, ok := s.queueInput(c, p, body, "sqs:SendMessage", &in)
	if !ok {
		return
	}
	switch {
	case in.MessageBody == "":
		c.fail(sqsError(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter MessageBody."))
		return
	case len(in.MessageBody) > maxMessageBytes:
		c.fail(errInvalidParameter(fmt.Sprintf("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxMessageBytes)))
		return
	case in.DelaySeconds < 0 || in.DelaySeconds > 900:
		c.fail(errInvalidParameter(fmt.Sprintf("Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", in.DelaySeconds)))
		return
	}
	s.mu.Lock()
	delay := time.Duration(in.DelaySeconds) * time.Second
	if in.DelaySeconds == 0 {
		delay = q.seconds("DelaySeconds", 0)
	}
	m := s.enqueueLocked(q, in.MessageBody, p.userID, delay, now)
	s.mu.Unlock()
	s.answerJSON(c, map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5})
}

type receiveInput struct {
	queueRequest
	MaxNumberOfMessages *int     `json:"MaxNumberOfMessages"`
	WaitTimeSeconds     *int     `json:"WaitTimeSeconds"`
	VisibilityTimeout   *int     `json:"VisibilityTimeout"`
	SystemAttributes    []string `json:"MessageSystemAttributeNames"`
	AttributeNames      []string `json:"AttributeNames"` // the deprecated spelling, still accepted
}

func (s *Server) sqsReceiveMessage(c *call, p principal, body []byte, _ time.Time) {
	var in receiveInput
	q, ok := s.queueInput(c, p, body, "sqs:ReceiveMessage", &in)
	if !ok {
		return
	}
	n := 1
	if in.MaxNumberOfMessages != nil {
		n = *in.MaxNumberOfMessages
	}
	if n < 1 || n > maxReceiveMessages {
		c.fail(errInvalidParameter(fmt.Sprintf("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)))
		return
	}
	s.mu.Lock()
	wait := q.seconds("ReceiveMessageWaitTimeSeconds", 0)
	visibility := q.seconds("VisibilityTimeout", defaultVisibility)
	s.mu.Unlock()
	if in.WaitTimeSeconds != nil {
		if *in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > maxWaitSeconds {
			c.fail(errInvalidParameter(fmt.Sprintf("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)))
			return
		}
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}
	if in.VisibilityTimeout != nil {
		v := time.Duration(*in.VisibilityTimeout) * time.Second
		if v < 0 || v > maxVisibility {
			c.fail(errInvalidParameter(fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)))
			return
		}
		visibility = v
	}
	attrs := append(slices.Clone(in.SystemAttributes), in.AttributeNames...)
	got := s.longPoll(c.ctx, q, n, wait, visibility, attrs)
	if len(got) == 0 {
		// SQS answers an empty receive with an empty object.
		s.answerJSON(c, struct{}{})
		return
	}
	s.answerJSON(c, map[string]any{"Messages": got})
}

func (s *Server) sqsDeleteMessage(c *call, p principal, body []byte, _ time.Time) {
	var in struct {
		queueRequest
		ReceiptHandle string `json:"ReceiptHandle"`
	}
	q, ok := s.queueInput(c, p, body, "sqs:DeleteMessage", &in)
	if !ok {
		return
	}
	s.mu.Lock()
	m, current, valid := q.messageByHandle(in.ReceiptHandle)
	if valid && m != nil && current {
		q.messages = slices.DeleteFunc(q.messages, func(x *message) bool { return x == m })
	}
	s.mu.Unlock()
	if !valid {
		c.fail(errReceiptHandle(in.ReceiptHandle))
		return
	}
	s.answerJSON(c, struct{}{})
}

func (s *Server) sqsChangeVisibility(c *call, p principal, body []byte, now time.Time) {
	var in struct {
		queueRequest
		ReceiptHandle     string `json:"ReceiptHandle"`
		VisibilityTimeout int    `json:"VisibilityTimeout"`
	}
	q, ok := s.queueInput(c, p, body, "sqs:ChangeMessageVisibility", &in)
	if !ok {
		return
	}
	v := time.Duration(in.VisibilityTimeout) * time.Second
	if v < 0 || v > maxVisibility {
		c.fail(errInvalidParameter(fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", in.VisibilityTimeout)))
		return
	}
	s.mu.Lock()
	m, current, valid := q.messageByHandle(in.ReceiptHandle)
	inFlight := m != nil && current && now.Before(m.visibleAt)
	if inFlight {
		m.visibleAt = now.Add(v)
		q.notify()
	}
	s.mu.Unlock()
	switch {
	case !valid:
		c.fail(errReceiptHandle(in.ReceiptHandle))
	case !inFlight:
		c.fail(sqsError(http.StatusBadRequest, "MessageNotInflight", "Message does not exist or is not available for visibility timeout change."))
	default:
		s.answerJSON(c, struct{}{})
	}
}

func (s *Server) sqsPurgeQueue(c *call, p principal, body []byte, _ time.Time) {
	var in queueRequest
	q, ok := s.queueInput(c, p, body, "sqs:PurgeQueue", &in)
	if !ok {
		return
	}
	s.mu.Lock()
	q.messages = nil
	s.mu.Unlock()
	s.answerJSON(c, struct{}{})
}
