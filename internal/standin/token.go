package standin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors of Verify. The registry front maps them to ECR's answers: an
// expired token is a 403 DENIED, anything else a 401 challenge.
var (
	ErrTokenExpired = errors.New("standin: ECR authorization token has expired")
	ErrTokenInvalid = errors.New("standin: ECR authorization token is not valid")
)

// Token is what an ECR authorization token proves.
type Token struct {
	Principal string    // ARN of the caller of GetAuthorizationToken
	Account   string    // registry the token was issued for
	Region    string    // region of the ECR endpoint that issued it
	Expires   time.Time // when it stops working
}

// ecrPassword mirrors the shape of a real ECR password: base64 of this JSON.
// Real ECR encrypts the payload under a KMS data key; here the "datakey" is
// an HMAC over the payload under the server's secret, which is what makes a
// token unforgeable and checkable by the registry front.
type ecrPassword struct {
	Payload    string `json:"payload"`
	DataKey    string `json:"datakey"`
	Version    string `json:"version"`
	Type       string `json:"type"`
	Expiration int64  `json:"expiration"`
}

type tokenClaims struct {
	Principal string `json:"p"`
	Account   string `json:"a"`
	Region    string `json:"r"`
	ExpiresMS int64  `json:"e"`
	// Real payloads are ciphertext of about 1.5 KB; the filler keeps ours
	// the same size so header-size limits are exercised as with real ECR.
	Filler []byte `json:"f"`
}

// mintPassword returns an ECR password for the claims.
func (s *Server) mintPassword(t Token) string {
	claims, _ := json.Marshal(tokenClaims{t.Principal, t.Account, t.Region, t.Expires.UnixMilli(), randomBytes(1100)})
	payload := base64.StdEncoding.EncodeToString(claims)
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(payload))
	pw, _ := json.Marshal(ecrPassword{
		Payload:    payload,
		DataKey:    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		Version:    "2",
		Type:       "DATA_KEY",
		Expiration: t.Expires.Unix(),
	})
	password := base64.StdEncoding.EncodeToString(pw)
	s.recordSecrets(password, base64.StdEncoding.EncodeToString([]byte("AWS:"+password)))
	return password
}

// MintToken issues ECR registry credentials for principal without an API
// call, as GetAuthorizationToken would (for seeding registries in tests). It
// is not counted.
func (s *Server) MintToken(principal string, lifetime time.Duration) (username, password string, expires time.Time) {
	exp := s.Now().Add(lifetime).Truncate(time.Millisecond)
	return "AWS", s.mintPassword(Token{Principal: principal, Account: accountOf(principal, s.set.account), Region: s.set.region, Expires: exp}), exp
}

// Verify checks registry credentials (docker's username and password) the
// way ECR's registry does: the username must be AWS and the password an
// unexpired token minted by this server. It returns ErrTokenExpired for a
// genuine but expired token, and ErrTokenInvalid otherwise.
func (s *Server) Verify(username, password string) (Token, error) {
	if username != "AWS" {
		return Token{}, ErrTokenInvalid
	}
	raw, err := base64.StdEncoding.DecodeString(password)
	if err != nil {
		return Token{}, ErrTokenInvalid
	}
	var pw ecrPassword
	if err := json.Unmarshal(raw, &pw); err != nil || pw.Version != "2" || pw.Type != "DATA_KEY" {
		return Token{}, ErrTokenInvalid
	}
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(pw.Payload))
	got, err := base64.StdEncoding.DecodeString(pw.DataKey)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return Token{}, ErrTokenInvalid
	}
	claimsJSON, err := base64.StdEncoding.DecodeString(pw.Payload)
	var c tokenClaims
	if err != nil || json.Unmarshal(claimsJSON, &c) != nil {
		return Token{}, ErrTokenInvalid
	}
	t := Token{Principal: c.Principal, Account: c.Account, Region: c.Region, Expires: time.UnixMilli(c.ExpiresMS)}
	if !s.Now().Before(t.Expires) {
		return t, ErrTokenExpired
	}
	return t, nil
}

// formatExpiresAt renders a timestamp as ECR does on the wire: a JSON number
// of epoch seconds in Java's double notation ("1.700043206473E9").
func formatExpiresAt(t time.Time) json.RawMessage {
	f := float64(t.UnixMilli()) / 1000
	return json.RawMessage(formatJavaDouble(f))
}

func formatJavaDouble(f float64) string {
	// Go: 1.700043206473e+09 -> Java: 1.700043206473E9
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if exp == "" {
		exp = "0"
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}
