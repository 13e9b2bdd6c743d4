package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/ecr"
	_ "github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/compose-spec/compose-go/v2/cli"
	_ "github.com/docker/cli/cli-plugins/plugin"
	_ "github.com/docker/cli/cli/config"
	_ "github.com/docker/docker-credential-helpers/client"
	_ "github.com/docker/docker-credential-helpers/credentials"
	_ "github.com/gofrs/flock"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/joho/godotenv"
	_ "github.com/spf13/cobra"
	_ "github.com/tidwall/sjson"
	_ "gopkg.in/yaml.v3"
)
