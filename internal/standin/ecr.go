package standin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

type repository struct {
	account string
	region  string
	name    string
	created time.Time
}

// repositoryNamePattern is ECR's model constraint on repository names.
var repositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// registryHost is the DNS name of an account's private registry.
func registryHost(account, region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return account + ".dkr.ecr." + region + "." + suffix
}

type authorizationData struct {
	AuthorizationToken string          `json:"authorizationToken"`
	ExpiresAt          json.RawMessage `json:"expiresAt"`
	ProxyEndpoint      string          `json:"proxyEndpoint,omitempty"`
}

func (s *Server) getAuthorizationToken(c *call, p principal, region string, body []byte, now time.Time) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		c.fail(&apiError{http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected."})
		return
	}
	if s.denied(p, "ecr:GetAuthorizationToken") {
		c.fail(accessDeniedJSON(p, "ecr:GetAuthorizationToken", "*"))
		return
	}
	ids := in.RegistryIDs
	if len(ids) == 0 {
		ids = []string{p.account}
	}
	expires := now.Add(s.TokenLifetime()).Truncate(time.Millisecond)
	out := struct {
		AuthorizationData []authorizationData `json:"authorizationData"`
	}{}
	for _, id := range ids {
		pw := s.mintPassword(Token{Principal: p.arn, Account: id, Region: region, Expires: expires})
		out.AuthorizationData = append(out.AuthorizationData, authorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
			ExpiresAt:          formatExpiresAt(expires),
			ProxyEndpoint:      "https://" + registryHost(id, region),
		})
	}
	s.answerJSON(c, out)
}

// getPublicAuthorizationToken is ECR Public's variant: one authorizationData
// object (not a list) and no proxy endpoint.
func (s *Server) getPublicAuthorizationToken(c *call, p principal, region string, _ []byte, now time.Time) {
	if s.denied(p, "ecr-public:GetAuthorizationToken") {
		c.fail(accessDeniedJSON(p, "ecr-public:GetAuthorizationToken", "*"))
		return
	}
	expires := now.Add(s.TokenLifetime()).Truncate(time.Millisecond)
	pw := s.mintPassword(Token{Principal: p.arn, Account: "public", Region: region, Expires: expires})
	out := struct {
		AuthorizationData authorizationData `json:"authorizationData"`
	}{authorizationData{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		ExpiresAt:          formatExpiresAt(expires),
	}}
	s.answerJSON(c, out)
}

type repositoryJSON struct {
	RepositoryArn              string          `json:"repositoryArn"`
	RegistryID                 string          `json:"registryId"`
	RepositoryName             string          `json:"repositoryName"`
	RepositoryURI              string          `json:"repositoryUri"`
	CreatedAt                  json.RawMessage `json:"createdAt"`
	ImageTagMutability         string          `json:"imageTagMutability"`
	ImageScanningConfiguration struct {
		ScanOnPush bool `json:"scanOnPush"`
	} `json:"imageScanningConfiguration"`
	EncryptionConfiguration struct {
		EncryptionType string `json:"encryptionType"`
	} `json:"encryptionConfiguration"`
}

func (r *repository) arn() string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", r.region, r.account, r.name)
}

func (r *repository) json() repositoryJSON {
	out := repositoryJSON{
		RepositoryArn:      r.arn(),
		RegistryID:         r.account,
		RepositoryName:     r.name,
		RepositoryURI:      registryHost(r.account, r.region) + "/" + r.name,
		CreatedAt:          formatExpiresAt(r.created),
		ImageTagMutability: "MUTABLE",
	}
	out.EncryptionConfiguration.EncryptionType = "AES256"
	return out
}

func repoKey(account, region, name string) string { return account + "/" + region + "/" + name }

// registryRequest is the part of a repository call that names the registry:
// an account, the caller's when left out.
type registryRequest struct {
	RegistryID string `json:"registryId"`
}

func (r *registryRequest) registryID() string { return r.RegistryID }

// repositoryInput decodes a repository call (in embeds registryRequest),
// answering ECR's error for a body that is not one, and gives the account
// whose registry it names.
func repositoryInput(c *call, p principal, body []byte, in interface{ registryID() string }) (string, bool) {
	if err := json.Unmarshal(body, in); err != nil {
		c.fail(&apiError{http.StatusBadRequest, "SerializationException", err.Error()})
		return "", false
	}
	if id := in.registryID(); id != "" {
		return id, true
	}
	return p.account, true
}

func (s *Server) createRepository(c *call, p principal, region string, body []byte, now time.Time) {
	var in struct {
		registryRequest
		RepositoryName string `json:"repositoryName"`
	}
	account, ok := repositoryInput(c, p, body, &in)
	if !ok {
		return
	}
	repo := &repository{account: account, region: region, name: in.RepositoryName, created: now}
	if len(in.RepositoryName) < 2 || len(in.RepositoryName) > 256 || !repositoryNamePattern.MatchString(in.RepositoryName) {
		c.fail(&apiError{http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''"})
		return
	}
	// A principal can only create repositories in its own account.
	if s.denied(p, "ecr:CreateRepository") || account != p.account {
		c.fail(accessDeniedJSON(p, "ecr:CreateRepository", repo.arn()))
		return
	}
	s.mu.Lock()
	key := repoKey(account, region, in.RepositoryName)
	if _, exists := s.repos[key]; exists {
		s.mu.Unlock()
		c.fail(&apiError{http.StatusBadRequest, "RepositoryAlreadyExistsException", fmt.Sprintf(
			"The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, account)})
		return
	}
	s.repos[key] = repo
	s.mu.Unlock()
	s.answerJSON(c, map[string]any{"repository": repo.json()})
}

func (s *Server) describeRepositories(c *call, p principal, region string, body []byte, _ time.Time) {
	var in struct {
		registryRequest
		RepositoryNames []string `json:"repositoryNames"`
	}
	account, ok := repositoryInput(c, p, body, &in)
	if !ok {
		return
	}
	if s.denied(p, "ecr:DescribeRepositories") {
		c.fail(accessDeniedJSON(p, "ecr:DescribeRepositories", fmt.Sprintf("arn:aws:ecr:%s:%s:repository/*", region, account)))
		return
	}
	found := []repositoryJSON{}
	s.mu.Lock()
	if len(in.RepositoryNames) > 0 {
		for _, name := range in.RepositoryNames {
			r, ok := s.repos[repoKey(account, region, name)]
			if !ok {
				s.mu.Unlock()
				c.fail(&apiError{http.StatusBadRequest, "RepositoryNotFoundException", fmt.Sprintf(
					"The repository with name '%s' does not exist in the registry with id '%s'", name, account)})
				return
			}
			found = append(found, r.json())
		}
	} else {
		for _, r := range s.repos {
			if r.account == account && r.region == region {
				found = append(found, r.json())
			}
		}
		sort.Slice(found, func(i, j int) bool { return found[i].RepositoryName < found[j].RepositoryName })
	}
	s.mu.Unlock()
	s.answerJSON(c, map[string]any{"repositories": found})
}

// CreateRepository adds a repository directly, as if its owner had created it.
func (s *Server) CreateRepository(account, region, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(account, region, name)
	if _, ok := s.repos[key]; !ok {
		s.repos[key] = &repository{account: account, region: region, name: name, created: s.set.clock()}
	}
}

// HasRepository reports whether a repository exists.
func (s *Server) HasRepository(account, region, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.repos[repoKey(account, region, name)]
	return ok
}
