// Package storage keeps export files in object storage and hands out signed, expiring
// download links to them. It wraps gocloud.dev/blob with what Herald needs: one Bucket type
// over file storage, Azure Blob and S3; streaming uploads that never hold a whole file; safe
// keys; and download links that the provider (Azure SAS, S3 presigned URL) or, for file
// storage, Herald itself verifies.
//
// # A bucket
//
// [Open] returns a [Bucket] for a [Config]; what an export does with it:
//
//	b, _ := storage.Open(ctx, storage.Config{URL: "azblob://exports", SigningKey: key})
//	w, _ := b.NewWriter(ctx, "exports/<task>/orders.csv.gz", "text/csv", nil)
//	_, err := io.Copy(w, rows)   // streamed in parts; nothing holds the whole file
//	if err != nil {
//		w.Abort()                // nothing is left behind
//	} else {
//		err = w.Close()          // the object exists only now
//	}
//	link, _ := b.SignedURL(ctx, key, time.Now().Add(24*time.Hour), "orders.csv.gz")
//
// Keys are checked in one place ([ValidateKey]) before any provider sees them: relative,
// slash-separated segments of letters, digits and ._-=, none starting with a dot.
//
// # Choosing and configuring a bucket
//
// Config.URL (Herald's --storage flag) picks the provider:
//
// File storage (the default, Config.URL empty: DataDir/files; or file:///abs/dir,
// file://./rel/dir). The directory is created when missing. Config.SigningKey (at least 32
// random bytes, the same on every node and across restarts) signs links; Config.PublicBaseURL
// makes them absolute. Links look like
// PublicBaseURL/api/downloads/<key>?expires=<unix>&name=<file name>&sig=<base64url HMAC-SHA256>
// and are served by DownloadHandler, which the API mounts at "GET /api/downloads/".
//
// Azure Blob: azblob://CONTAINER. The container must exist. Credentials come from the
// environment, first match wins:
//
//	AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY         shared key (signs SAS links)
//	AZURE_STORAGE_SAS_TOKEN                           a SAS token (cannot sign links)
//	AZURE_STORAGE_CONNECTION_STRING                   connection string (signs when it has AccountKey)
//	otherwise Azure AD (DefaultAzureCredential: managed identity, AZURE_CLIENT_ID/…, az login),
//	signing through a user delegation key (needs "Storage Blob Delegator"; links ≤ 7 days)
//
// URL parameters override the endpoint: storage_account=NAME, domain=D (default
// blob.core.windows.net), protocol=http|https, localemu=true, cdn=true; the same are read from
// AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_DOMAIN, AZURE_STORAGE_PROTOCOL,
// AZURE_STORAGE_IS_LOCAL_EMULATOR and AZURE_STORAGE_IS_CDN.
//
//	Real Azure: --storage 'azblob://herald-exports'
//	            AZURE_STORAGE_ACCOUNT=myaccount AZURE_STORAGE_KEY=… (or Azure AD, no key)
//	Azurite:    --storage 'azblob://herald-exports?protocol=http&domain=127.0.0.1:10000'
//	            AZURE_STORAGE_ACCOUNT=devstoreaccount1 AZURE_STORAGE_KEY=<Azurite's well-known key>
//	            (or AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;
//	            AccountName=devstoreaccount1;AccountKey=…;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;')
//
// test/azurite/start.sh starts Azurite for the tests.
//
// S3 and S3-compatible stores: s3://BUCKET?region=eu-west-1, plus endpoint=https://minio:9000,
// use_path_style=true, disable_https=true, profile=NAME, and for many non-AWS stores
// request_checksum_calculation=when_required&response_checksum_validation=when_required.
// Credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, ~/.aws, web identity, instance roles). Presigned links last at most 7 days.
//
// # Uploads
//
// NewWriter streams: file storage writes a temp file beside the target and renames it on
// Close; Azure stages blocks and S3 uploads multipart parts of Config.UploadPartSize
// (8 MiB), Config.UploadConcurrency (2) at a time, so an upload holds about 24 MiB on Azure
// whatever the file's size. On S3 the AWS upload manager first reads up to 16 MiB (objects
// smaller than that go up in one request) and then parts: about 40 MiB at the peak; gocloud
// does not let that threshold be changed. Nothing appears under the key until Close succeeds; Abort, or
// cancelling the context given to NewWriter, discards the upload. Always Close or Abort a
// Writer: the Azure upload runs in a goroutine that only they end.
//
// # Retention
//
// WriterOptions.ExpiresAt stores the object's expiry as metadata (MetaExpiresAt, RFC 3339);
// List(ctx, prefix, &ListOptions{WithMetadata: true}) reads it back as ObjectInfo.ExpiresAt
// (file storage keeps metadata in a ".attrs" sidecar file). A retention job deletes what has
// expired with DeleteAny, and also removes keys ValidateKey rejects once they are old
// (file storage's "….tmp" files stranded by a crash mid-upload).
package storage
