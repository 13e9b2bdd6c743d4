package standin

// Counts is how many calls of each action the stand-in answered with success
// (Counts) or received at all, including refused and throttled ones
// (Attempts).
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

// Attempts returns every call per action, including those refused for their
// signature, throttled or denied, since start or Reset.
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
	clear(s.throttle)
}

func (s *Server) count(action string) {
	s.mu.Lock()
	s.counts[action]++
	s.mu.Unlock()
}

func (s *Server) attempt(action string) {
	s.mu.Lock()
	s.attempts[action]++
	s.mu.Unlock()
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
