package api_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/xks/kmsdial"
	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

// onPort dials an endpoint on the test proxy's port, since AWS's
// XksProxyUriEndpoint has none; unlike --xks-proxy-connect-to it keeps the
// dialer's address policy.
type onPort struct {
	d    kmsdial.Dialer
	port string
}

func (o onPort) Dial(cfg kmscore.XKSProxyConfig) (kmscore.XKSProxy, error) {
	cfg.Endpoint += ":" + o.port
	return o.d.Dial(cfg)
}

// TestExternalKeyStoreRefusesInternalEndpoints: a tenant's
// XksProxyUriEndpoint on loopback, a private or link-local network (an IP
// literal or a name resolving there) is never dialled, though a genuine
// proxy answers there: CreateCustomKeyStore answers
// XksProxyUriUnreachableException with AWS's message, the same for every
// such address, and a store connects FAILED with XKS_PROXY_NOT_REACHABLE.
// An operator's opt-out reaches the same proxy.
func TestExternalKeyStoreRefusesInternalEndpoints(t *testing.T) {
	p := xkstest.New(t)
	u, _ := url.Parse(p.URL)
	s := newServer(t)
	t.Cleanup(s.Service.CloseKeyStores)
	c := s.clientIn(xkstest.Region)
	strict := onPort{d: kmsdial.Dialer{TLS: p.TLS(), Timeout: 2 * time.Second}, port: u.Port()}
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{XKS: strict})
	input := func(name, endpoint string) *kms.CreateCustomKeyStoreInput {
		return &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName: aws.String(name), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
			XksProxyUriEndpoint: aws.String(endpoint), XksProxyUriPath: aws.String(xkstest.Path),
			XksProxyConnectivity:             types.XksProxyConnectivityTypePublicEndpoint,
			XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(xkstest.AccessKeyID), RawSecretAccessKey: aws.String(xkstest.Secret)},
		}
	}
	const unreachable = "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore."
	for _, endpoint := range []string{"https://127.0.0.1", "https://localhost", "https://10.0.0.1", "https://169.254.169.254", "https://100.64.0.1"} {
		_, err := c.CreateCustomKeyStore(bg, input("internal", endpoint))
		wantError(t, err, "XksProxyUriUnreachableException", unreachable)
	}
	if n := len(p.Requests()); n != 0 {
		t.Fatalf("the proxy on loopback got %d requests", n)
	}

	// The operator allows private addresses (an on-premises proxy).
	allowed := strict
	allowed.d.AllowPrivateAddresses = true
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{XKS: allowed})
	out, err := c.CreateCustomKeyStore(bg, input("onprem", "https://127.0.0.1"))
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	id := out.CustomKeyStoreId
	// And withdraws it: the store cannot connect.
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{XKS: strict})
	before := len(p.Requests())
	if _, err := c.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	var e types.CustomKeyStoresListEntry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := c.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		if err != nil {
			t.Fatal(err)
		}
		if e = d.CustomKeyStores[0]; e.ConnectionState != types.ConnectionStateTypeConnecting || time.Now().After(deadline) {
			break
		}
	}
	if e.ConnectionState != types.ConnectionStateTypeFailed || e.ConnectionErrorCode != types.ConnectionErrorCodeTypeXksProxyNotReachable || len(p.Requests()) != before {
		t.Fatalf("store on a loopback proxy: %s (%s), %d new proxy requests", e.ConnectionState, e.ConnectionErrorCode, len(p.Requests())-before)
	}
}
