package standin

// Counts is how many calls of each action the stand-in answered with success
// (Counts), how many it was asked at all, refused and throttled ones too
// (Calls), and how many requests carried them (Attempts). A call is what the
// caller asked for once: the SDK sends every attempt of it with one
// amz-sdk-invocation-id, and retries an attempt that was throttled or whose
// answer did not reach it whole (a connection broken mid-body, under load).
// So a call retried is one call in Counts and Calls, and each of its requests
// is one in Attempts.
type Counts struct {
	AssumeRole                  int64 `json:"AssumeRole"`
	AssumeRoleWithWebIdentity   int64 `json:"AssumeRoleWithWebIdentity"`
	GetCallerIdentity           int64 `json:"GetCallerIdentity"`
	GetAuthorizationToken       int64 `json:"GetAuthorizationToken"`
	PublicGetAuthorizationToken int64 `json:"PublicGetAuthorizationToken"`
	CreateRepository            int64 `json:"CreateRepository"`
	DescribeRepositories        int64 `json:"DescribeRepositories"`
	// IDToken counts the CI ID tokens signed: GitHub's token requests and CircleCI tokens.
	IDToken int64 `json:"IDToken"`
	// SQS
	CreateQueue             int64 `json:"CreateQueue"`
	GetQueueUrl             int64 `json:"GetQueueUrl"`
	GetQueueAttributes      int64 `json:"GetQueueAttributes"`
	SetQueueAttributes      int64 `json:"SetQueueAttributes"`
	SendMessage             int64 `json:"SendMessage"`
	ReceiveMessage          int64 `json:"ReceiveMessage"`
	DeleteMessage           int64 `json:"DeleteMessage"`
	ChangeMessageVisibility int64 `json:"ChangeMessageVisibility"`
	PurgeQueue              int64 `json:"PurgeQueue"`
}

// Actions are the action names Counts, Attempts and Throttle use.
var Actions = []string{"AssumeRole", "AssumeRoleWithWebIdentity", "GetCallerIdentity", "GetAuthorizationToken",
	"PublicGetAuthorizationToken", "CreateRepository", "DescribeRepositories", "IDToken",
	"CreateQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes", "SendMessage", "ReceiveMessage",
	"DeleteMessage", "ChangeMessageVisibility", "PurgeQueue"}

func countsFrom(m map[string]int64) Counts {
	return Counts{
		AssumeRole:                  m["AssumeRole"],
		AssumeRoleWithWebIdentity:   m["AssumeRoleWithWebIdentity"],
		GetCallerIdentity:           m["GetCallerIdentity"],
		GetAuthorizationToken:       m["GetAuthorizationToken"],
		PublicGetAuthorizationToken: m["PublicGetAuthorizationToken"],
		CreateRepository:            m["CreateRepository"],
		DescribeRepositories:        m["DescribeRepositories"],
		IDToken:                     m["IDToken"],
		CreateQueue:                 m["CreateQueue"],
		GetQueueUrl:                 m["GetQueueUrl"],
		GetQueueAttributes:          m["GetQueueAttributes"],
		SetQueueAttributes:          m["SetQueueAttributes"],
		SendMessage:                 m["SendMessage"],
		ReceiveMessage:              m["ReceiveMessage"],
		DeleteMessage:               m["DeleteMessage"],
		ChangeMessageVisibility:     m["ChangeMessageVisibility"],
		PurgeQueue:                  m["PurgeQueue"],
	}
}

// Counts returns the successful calls per action since start or Reset.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countsFrom(s.counts)
}

// Calls returns the calls asked per action, answered or refused for their
// signature, throttled or denied, since start or Reset.
func (s *Server) Calls() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countsFrom(s.calls)
}

// Attempts returns every request per action, retries included, since start
// or Reset.
func (s *Server) Attempts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countsFrom(s.attempts)
}

// Reset zeroes the counters and clears pending throttles.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
	clear(s.attempts)
	clear(s.calls)
	clear(s.answered)
	clear(s.asked)
	clear(s.throttle)
}

// invocationHeader carries the SDK's ID of one call, the same on its retries.
const invocationHeader = "Amz-Sdk-Invocation-Id"

// maxInvocations bounds the invocation IDs kept to recognise a retry: a
// retry follows its first attempt within seconds, and a stand-in that runs
// for days (make demo, the e2e tier) must not grow without end.
const maxInvocations = 1 << 16

// firstOf records id in seen and says whether it is new there. A request
// without an ID (not from the SDK) is always a call of its own.
func firstOf(seen map[string]struct{}, id string) bool {
	if id == "" {
		return true
	}
	if _, again := seen[id]; again {
		return false
	}
	if len(seen) >= maxInvocations {
		clear(seen)
	}
	seen[id] = struct{}{}
	return true
}

func (s *Server) count(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if firstOf(s.answered, c.invocation) {
		s.counts[c.action]++
	}
}

func (s *Server) attempt(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[c.action]++
	if firstOf(s.asked, c.invocation) {
		s.calls[c.action]++
	}
}

// takeThrottle consumes one pending throttle of action, if any.
func (s *Server) takeThrottle(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle[action] > 0 {
		s.throttle[action]--
		return true
	}
	return false
}
