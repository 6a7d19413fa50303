package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"gocloud.dev/blob/azureblob"
)

// azureSigner makes read-only SAS links. gocloud's azureblob.SignedURL cannot sign the
// Content-Disposition override (rscd) and only signs with a shared key, so we sign with the
// same credential the bucket was opened with: a shared key, or else an Azure AD credential
// through a user delegation key.
type azureSigner struct {
	client    *container.Client
	container string
	sharedKey *container.SharedKeyCredential // nil unless opened with an account key
	svcURL    string                         // for user delegation keys
	token     azcore.TokenCredential         // nil unless opened with Azure AD

	mu  sync.Mutex
	udc *service.UserDelegationCredential
	udx time.Time // when udc stops being valid
}

// userDelegationTTL is how long one user delegation key serves; Azure caps it at 7 days.
const userDelegationTTL = 7 * 24 * time.Hour

// openAzure opens azblob://CONTAINER?… with credentials from cfg.LookupEnv, in the order
// gocloud's default opener uses: AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY, then
// AZURE_STORAGE_SAS_TOKEN, then AZURE_STORAGE_CONNECTION_STRING (or
// AZURE_STORAGEBLOB_CONNECTIONSTRING), then Azure AD's DefaultAzureCredential. We build the
// opener ourselves, not through blob.OpenBucket, to keep the credential for signing and to
// read the environment through cfg.LookupEnv.
func openAzure(ctx context.Context, u *url.URL, cfg Config) (*Bucket, error) {
	fail := func(err error) (*Bucket, error) {
		return nil, fmt.Errorf("storage URL %q: %w", redact(cfg.URL), err)
	}
	if u.Host == "" {
		return fail(errors.New("azblob URL needs a container, as in azblob://exports"))
	}
	svcOpts := azureServiceOptions(cfg)
	signer := &azureSigner{}
	opener := &azureblob.URLOpener{
		ServiceURLOptions: svcOpts,
		MakeClient: func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
			client, err := signer.makeClient(cfg, string(svcURL), string(name))
			signer.client = client
			return client, err
		},
	}
	bkt, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return fail(err)
	}
	return &Bucket{bucket: bkt, kind: KindAzure, cfg: cfg, azure: signer}, nil
}

// azureServiceOptions mirrors azureblob.NewDefaultServiceURLOptions, reading cfg.LookupEnv.
func azureServiceOptions(cfg Config) azureblob.ServiceURLOptions {
	isCDN, _ := strconv.ParseBool(cfg.getenv("AZURE_STORAGE_IS_CDN"))
	isEmu, _ := strconv.ParseBool(cfg.getenv("AZURE_STORAGE_IS_LOCAL_EMULATOR"))
	o := azureblob.ServiceURLOptions{
		AccountName:     cfg.getenv("AZURE_STORAGE_ACCOUNT"),
		SASToken:        cfg.getenv("AZURE_STORAGE_SAS_TOKEN"),
		StorageDomain:   cfg.getenv("AZURE_STORAGE_DOMAIN"),
		Protocol:        cfg.getenv("AZURE_STORAGE_PROTOCOL"),
		IsCDN:           isCDN,
		IsLocalEmulator: isEmu,
	}
	if cs := azureConnectionString(cfg); cs != "" {
		parts := parseConnectionString(cs)
		if o.AccountName == "" {
			o.AccountName = parts["AccountName"]
		}
		if o.Protocol == "" {
			o.Protocol = parts["DefaultEndpointsProtocol"]
		}
	}
	return o
}

func azureConnectionString(cfg Config) string {
	if cs := cfg.getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
		return cs
	}
	return cfg.getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
}

// parseConnectionString splits "K=V;K=V" (values may contain '=', as base64 keys do).
func parseConnectionString(cs string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func (s *azureSigner) makeClient(cfg Config, svcURL, name string) (*container.Client, error) {
	s.container = name
	containerURL, err := url.JoinPath(svcURL, name)
	if err != nil {
		return nil, err
	}
	account, key := cfg.getenv("AZURE_STORAGE_ACCOUNT"), cfg.getenv("AZURE_STORAGE_KEY")
	switch cs := azureConnectionString(cfg); {
	case account != "" && key != "":
		cred, err := container.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, fmt.Errorf("AZURE_STORAGE_KEY: %w", err)
		}
		s.sharedKey = cred
		return container.NewClientWithSharedKeyCredential(containerURL, cred, nil)
	case cfg.getenv("AZURE_STORAGE_SAS_TOKEN") != "":
		// The token is already in svcURL; it cannot sign new links.
		return container.NewClientWithNoCredential(containerURL, nil)
	case cs != "":
		parts := parseConnectionString(cs)
		if parts["AccountName"] != "" && parts["AccountKey"] != "" {
			cred, err := container.NewSharedKeyCredential(parts["AccountName"], parts["AccountKey"])
			if err != nil {
				return nil, fmt.Errorf("connection string AccountKey: %w", err)
			}
			s.sharedKey = cred
		}
		return container.NewClientFromConnectionString(cs, name, nil)
	default:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("no AZURE_STORAGE_KEY, SAS token or connection string, and Azure AD: %w", err)
		}
		s.token, s.svcURL = cred, svcURL
		return container.NewClient(containerURL, cred, nil)
	}
}

// signedURL returns a read-only SAS URL for key, valid until expires, whose responses carry
// disposition as Content-Disposition.
func (s *azureSigner) signedURL(ctx context.Context, key string, expires time.Time, disposition string) (string, error) {
	blobURL := s.client.NewBlobClient(key).URL() // ValidateKey'd keys need no gocloud escaping
	values := sas.BlobSignatureValues{
		Protocol:           sas.ProtocolHTTPSandHTTP, // Azurite speaks http; Azure refuses http unless allowed
		ExpiryTime:         expires.UTC(),
		Permissions:        (&sas.BlobPermissions{Read: true}).String(),
		ContainerName:      s.container,
		BlobName:           key,
		ContentDisposition: disposition,
	}
	var (
		qp  sas.QueryParameters
		err error
	)
	switch {
	case s.sharedKey != nil:
		qp, err = values.SignWithSharedKey(s.sharedKey)
	case s.token != nil:
		var udc *service.UserDelegationCredential
		udc, err = s.userDelegation(ctx, expires)
		if err == nil {
			qp, err = values.SignWithUserDelegation(udc)
		}
	default:
		return "", fmt.Errorf("%w: Azure credentials from a SAS token cannot sign links; set AZURE_STORAGE_KEY or use Azure AD", ErrSigningUnavailable)
	}
	if err != nil {
		return "", err
	}
	return blobURL + "?" + qp.Encode(), nil
}

// userDelegation returns a cached user delegation credential valid past expires, asking
// Azure for a new one (valid userDelegationTTL) when needed.
func (s *azureSigner) userDelegation(ctx context.Context, expires time.Time) (*service.UserDelegationCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udc != nil && expires.Before(s.udx) {
		return s.udc, nil
	}
	now := time.Now().UTC()
	end := now.Add(userDelegationTTL)
	if expires.After(end) {
		return nil, fmt.Errorf("%w: Azure AD signed links last at most %s", ErrSigningUnavailable, userDelegationTTL)
	}
	svc, err := service.NewClient(s.svcURL, s.token, nil)
	if err != nil {
		return nil, err
	}
	start := now.Add(-5 * time.Minute).Format(sas.TimeFormat) // tolerate clock skew
	expiry := end.Format(sas.TimeFormat)
	udc, err := svc.GetUserDelegationCredential(ctx, service.KeyInfo{Start: &start, Expiry: &expiry}, nil)
	if err != nil {
		return nil, fmt.Errorf("get user delegation key: %w", err)
	}
	s.udc, s.udx = udc, end
	return udc, nil
}
