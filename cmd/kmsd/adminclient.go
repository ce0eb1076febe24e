package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// The online forms of the admin commands: with --endpoint they call a
// running server's IAM API (SimulatePrincipalPolicy, GetUser, CreateUser,
// CreateAccessKey) as any AWS client would, signed with the credentials of
// the environment, or else of the AWS SDK's default chain (shared config
// and credentials files, SSO, web identity, container and instance roles).
// The server authorizes and audits each call like any other.

// iamClient returns an IAM client for the kmsd at endpoint.
func iamClient(ctx context.Context, endpoint, region string, getenv func(string) string) (*iam.Client, error) {
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q is not a URL such as http://127.0.0.1:8080", endpoint)
	}
	var opts []func(*config.LoadOptions) error
	for _, r := range []string{region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")} {
		if r != "" {
			opts = append(opts, config.WithRegion(r))
			break
		}
	}
	if id, sec := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && sec != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, sec, getenv("AWS_SESSION_TOKEN"))))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // IAM is global; kmsd accepts its signatures in us-east-1
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, errors.New("no credentials to sign with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (kmsd serve prints the root's first access key when it starts) or configure an AWS profile")
	}
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
		if o.HTTPClient == nil {
			o.HTTPClient = sdkhttp.New()
		} else {
			o.HTTPClient = sdkhttp.Wrap(o.HTTPClient)
		}
	}), nil
}

// apiError shortens an SDK error to what the server said.
func apiError(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("%s: %w", op, err)
}

// explainOnline asks a running server whether principal may perform
// action on the key resource, through SimulatePrincipalPolicy, and prints
// the answer as explain does on a data directory.
func explainOnline(ctx context.Context, c *iam.Client, principal, action, resource string, entries []types.ContextEntry, stdout io.Writer) error {
	out, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(principal), ActionNames: []string{action}, ResourceArns: []string{resource}, ContextEntries: entries,
	})
	if err != nil {
		return apiError("SimulatePrincipalPolicy", err)
	}
	if len(out.EvaluationResults) != 1 {
		return fmt.Errorf("SimulatePrincipalPolicy answered %d results for one action on one key", len(out.EvaluationResults))
	}
	r := out.EvaluationResults[0]
	v := explainView{Principal: principal, Action: aws.ToString(r.EvalActionName), Resource: aws.ToString(r.EvalResourceName), Decision: string(r.EvalDecision)}
	missing := r.MissingContextValues
	if len(r.ResourceSpecificResults) > 0 {
		missing = r.ResourceSpecificResults[0].MissingContextValues
	}
	v.Missing = missing
	for _, s := range r.MatchedStatements {
		sv := stmtView{ID: aws.ToString(s.SourcePolicyId), Type: string(s.SourcePolicyType)}
		if s.StartPosition != nil {
			sv.Line, sv.Column = int(s.StartPosition.Line), int(s.StartPosition.Column)
		}
		v.Statements = append(v.Statements, sv)
	}
	v.writeVerdict(stdout)
	fmt.Fprintf(stdout, "  %s\n", r.EvalDecision)
	v.writeStatements(stdout, "")
	return nil
}

// createAccessKeyOnline makes an access key through a running server's IAM
// API: for user (created if missing), or for the signer itself.
func createAccessKeyOnline(ctx context.Context, c *iam.Client, user string, stdout io.Writer) error {
	var in iam.GetUserInput
	if user != "" {
		in.UserName = aws.String(user)
	}
	u, err := c.GetUser(ctx, &in)
	var nse *types.NoSuchEntityException
	if user != "" && errors.As(err, &nse) {
		created, cerr := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)})
		if cerr != nil {
			return apiError("CreateUser", cerr)
		}
		fmt.Fprintf(stdout, "Created the IAM user %s.\n", aws.ToString(created.User.Arn))
		u, err = &iam.GetUserOutput{User: created.User}, nil
	}
	if err != nil {
		return apiError("GetUser", err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: in.UserName})
	if err != nil {
		return apiError("CreateAccessKey", err)
	}
	fmt.Fprintf(stdout, "Created an access key for %s. The secret is shown only now:\n\n", aws.ToString(u.User.Arn))
	fmt.Fprintf(stdout, "  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n\n",
		aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey))
	fmt.Fprintln(stdout, "It works at once: sign requests with it.")
	return nil
}
