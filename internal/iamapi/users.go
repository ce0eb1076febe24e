package iamapi

import (
	"context"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func xmlTags(tags []identity.Tag) *members[xmlTag] {
	if len(tags) == 0 {
		return nil
	}
	m := &members[xmlTag]{}
	for _, t := range tags {
		m.Member = append(m.Member, xmlTag(t))
	}
	return m
}

func auditTags(tags []identity.Tag) []any {
	out := make([]any, len(tags))
	for i, t := range tags {
		out[i] = map[string]any{"key": t.Key, "value": t.Value}
	}
	return out
}

type xmlUser struct {
	Path       string           `xml:"Path,omitempty"`
	UserName   string           `xml:"UserName,omitempty"`
	UserID     string           `xml:"UserId"`
	Arn        string           `xml:"Arn"`
	CreateDate string           `xml:"CreateDate"`
	Tags       *members[xmlTag] `xml:"Tags,omitempty"`
}

func toXMLUser(u *identity.User, withTags bool) xmlUser {
	x := xmlUser{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.ARN(), CreateDate: xmlTime(u.Created)}
	if withTags {
		x.Tags = xmlTags(u.Tags)
	}
	return x
}

func auditUser(u *identity.User) map[string]any {
	return map[string]any{"path": u.Path, "userName": u.UserName, "userId": u.UserID, "arn": u.ARN(), "createDate": xmlTime(u.Created)}
}

type userResult struct {
	User xmlUser `xml:"User"`
}

type listUsersResult struct {
	Users       members[xmlUser] `xml:"Users"`
	IsTruncated bool             `xml:"IsTruncated"`
	Marker      string           `xml:"Marker,omitempty"`
}

// userARNFor is the resource an action on a user is authorized against.
func userARNFor(account, name string) string { return "arn:aws:iam::" + account + ":user/" + name }

func (h *Handler) authorize(ctx context.Context, c *call, resource string) error {
	return h.cfg.Authorizer.Authorize(ctx, &c.caller, c.service+":"+c.action, resource)
}

// userOrSelf resolves an optional UserName: absent means the caller
// itself, "" for an account root.
func (c *call) userOrSelf(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	switch c.caller.Type {
	case identity.TypeRoot:
		return "", nil
	case identity.TypeIAMUser:
		return c.caller.UserName, nil
	}
	return "", &identity.Error{Code: identity.CodeValidation, Message: "Must specify userName when calling with non-User credentials"}
}

// authorizeUserOrSelf resolves an optional UserName (userOrSelf) and
// authorizes the call's action on that user, or on the caller's own root.
func (h *Handler) authorizeUserOrSelf(ctx context.Context, c *call, name string) (string, error) {
	name, err := c.userOrSelf(name)
	if err != nil {
		return "", err
	}
	if err := h.authorize(ctx, c, c.selfARN(name)); err != nil {
		return "", err
	}
	return name, nil
}

func (c *call) selfARN(user string) string {
	if user == "" {
		return identity.RootARN(c.caller.AccountID)
	}
	return userARNFor(c.caller.AccountID, user)
}

func createUser(ctx context.Context, h *Handler, c *call) (any, error) {
	in := identity.CreateUserInput{
		UserName: c.p.str("UserName", true, 1, 64, patternName, validName),
		Path:     c.p.str("Path", false, 1, 512, patternPath, identity.ValidPath),
		Tags:     c.p.tags(),
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", in.UserName)
	c.param("path", in.Path)
	if len(in.Tags) > 0 {
		c.param("tags", auditTags(in.Tags))
	}
	path := in.Path
	if path == "" {
		path = "/"
	}
	if err := h.authorize(ctx, c, "arn:aws:iam::"+c.caller.AccountID+":user"+path+in.UserName); err != nil {
		return nil, err
	}
	u, err := h.ids.CreateUser(c.answering(ctx, func(made any) map[string]any {
		return map[string]any{"user": auditUser(made.(*identity.User))}
	}), c.caller.AccountID, in)
	if err != nil {
		return nil, err
	}
	return userResult{User: toXMLUser(u, true)}, nil
}

func getUser(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", false, 1, 128, patternName, validName)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	name, err := h.authorizeUserOrSelf(ctx, c, name)
	if err != nil {
		return nil, err
	}
	if name == "" {
		// The root: its id is the account's, its ARN the root ARN.
		acct, err := h.ids.Account(ctx, c.caller.AccountID)
		if err != nil {
			return nil, err
		}
		return userResult{User: xmlUser{UserID: acct.AccountID, Arn: identity.RootARN(acct.AccountID), CreateDate: xmlTime(acct.Created)}}, nil
	}
	u, err := h.ids.GetUser(ctx, c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	return userResult{User: toXMLUser(u, true)}, nil
}

func deleteUser(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", true, 1, 128, patternName, validName)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	if err := h.authorize(ctx, c, userARNFor(c.caller.AccountID, name)); err != nil {
		return nil, err
	}
	return nil, h.ids.DeleteUser(ctx, c.caller.AccountID, name)
}

func listUsers(ctx context.Context, h *Handler, c *call) (any, error) {
	in := c.p.list(true)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("pathPrefix", in.PathPrefix)
	c.param("maxItems", in.MaxItems)
	if err := h.authorize(ctx, c, userARNFor(c.caller.AccountID, "")); err != nil {
		return nil, err
	}
	page, err := h.ids.ListUsers(ctx, c.caller.AccountID, in)
	if err != nil {
		return nil, err
	}
	out := listUsersResult{IsTruncated: page.IsTruncated, Marker: page.Marker}
	out.Users.Member = make([]xmlUser, 0, len(page.Items))
	for _, u := range page.Items {
		out.Users.Member = append(out.Users.Member, toXMLUser(u, false))
	}
	return out, nil
}

type xmlAccessKey struct {
	UserName        string     `xml:"UserName,omitempty"`
	AccessKeyID     string     `xml:"AccessKeyId"`
	Status          string     `xml:"Status"`
	SecretAccessKey secretText `xml:"SecretAccessKey"`
	CreateDate      string     `xml:"CreateDate"`
}

type createAccessKeyResult struct {
	AccessKey xmlAccessKey `xml:"AccessKey"`
}

func (r createAccessKeyResult) wipe() { secret.Bytes(r.AccessKey.SecretAccessKey).Wipe() }

type xmlAccessKeyMetadata struct {
	UserName    string `xml:"UserName,omitempty"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type listAccessKeysResult struct {
	AccessKeyMetadata members[xmlAccessKeyMetadata] `xml:"AccessKeyMetadata"`
	IsTruncated       bool                          `xml:"IsTruncated"`
}

func createAccessKey(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", false, 1, 128, patternName, validName)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	name, err := h.authorizeUserOrSelf(ctx, c, name)
	if err != nil {
		return nil, err
	}
	// The secret goes to the client once, and nowhere else.
	k, sec, err := h.ids.IssueAccessKey(c.answering(ctx, func(made any) map[string]any {
		k := made.(*identity.AccessKey)
		return map[string]any{"accessKey": map[string]any{
			"userName": k.UserName, "accessKeyId": k.AccessKeyID, "status": k.KeyStatus(), "createDate": xmlTime(k.Created),
		}}
	}), c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	return createAccessKeyResult{AccessKey: xmlAccessKey{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.KeyStatus(),
		SecretAccessKey: secretText(sec), CreateDate: xmlTime(k.Created)}}, nil
}

func deleteAccessKey(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", false, 1, 128, patternName, validName)
	akid := c.p.str("AccessKeyId", true, 16, 128, `[\w]+`, validAccessKeyID)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	c.param("accessKeyId", akid)
	name, err := h.authorizeUserOrSelf(ctx, c, name)
	if err != nil {
		return nil, err
	}
	return nil, h.ids.DeleteAccessKey(ctx, c.caller.AccountID, name, akid)
}

// updateAccessKey makes an access key Active or Inactive; an inactive key
// is refused from the next request on.
func updateAccessKey(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", false, 1, 128, patternName, validName)
	akid := c.p.str("AccessKeyId", true, 16, 128, `[\w]+`, validAccessKeyID)
	status := c.p.str("Status", true, 0, 0, "", nil)
	if _, present := c.p.v["Status"]; present && status != identity.StatusActive && status != identity.StatusInactive {
		c.p.errs = append(c.p.errs, "Value '"+echo(status)+"' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	c.param("accessKeyId", akid)
	c.param("status", status)
	name, err := h.authorizeUserOrSelf(ctx, c, name)
	if err != nil {
		return nil, err
	}
	return nil, h.ids.UpdateAccessKey(ctx, c.caller.AccountID, name, akid, status)
}

func listAccessKeys(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.p.str("UserName", false, 1, 128, patternName, validName)
	c.p.list(false) // one page holds every key: a user has at most a few
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("userName", name)
	name, err := h.authorizeUserOrSelf(ctx, c, name)
	if err != nil {
		return nil, err
	}
	keys, err := h.ids.ListAccessKeys(ctx, c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	out := listAccessKeysResult{}
	out.AccessKeyMetadata.Member = make([]xmlAccessKeyMetadata, 0, len(keys))
	for _, k := range keys {
		out.AccessKeyMetadata.Member = append(out.AccessKeyMetadata.Member, xmlAccessKeyMetadata{
			UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.KeyStatus(), CreateDate: xmlTime(k.Created)})
	}
	return out, nil
}
