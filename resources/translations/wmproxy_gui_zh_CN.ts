<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>BodyView</name>
    <message>
        <source>no body</source>
        <translation>无正文</translation>
    </message>
    <message>
        <source>form data</source>
        <translation>表单数据</translation>
    </message>
    <message>
        <source>text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>binary</source>
        <translation>二进制</translation>
    </message>
    <message>
        <source>truncated: only the first %1 are kept</source>
        <translation>已截断：只保留了前 %1</translation>
    </message>
    <message>
        <source>Invalid JSON:</source>
        <translation>JSON 无效：</translation>
    </message>
    <message>
        <source>Invalid XML:</source>
        <translation>XML 无效：</translation>
    </message>
</context>
<context>
    <name>CertificatesPage</name>
    <message>
        <source>Subject</source>
        <translation>主题</translation>
    </message>
    <message>
        <source>Issuer</source>
        <translation>签发者</translation>
    </message>
    <message>
        <source>Type</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Valid from</source>
        <translation>生效时间</translation>
    </message>
    <message>
        <source>Valid until</source>
        <translation>有效期至</translation>
    </message>
    <message>
        <source>DNS names</source>
        <translation>DNS 名称</translation>
    </message>
    <message>
        <source>IP addresses</source>
        <translation>IP 地址</translation>
    </message>
    <message>
        <source>SHA-256</source>
        <translation>SHA-256</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Private key</source>
        <translation>私钥</translation>
    </message>
    <message>
        <source>expired {d}</source>
        <translation>已于 {d} 过期</translation>
    </message>
    <message>
        <source>expires in {n} days ({d})</source>
        <translation>{n} 天后过期（{d}）</translation>
    </message>
    <message>
        <source>No certificates yet</source>
        <translation>还没有证书</translation>
    </message>
    <message>
        <source>Generate a CA and sign server and client certificates with it (for TLS and two-way TLS between your clients and server), or import PEM files you already have.</source>
        <translation>生成一个 CA，并用它签发服务端和客户端证书（用于客户端与服务端之间的 TLS 和双向 TLS），或导入已有的 PEM 文件。</translation>
    </message>
    <message>
        <source>Generate CA…</source>
        <translation>生成 CA…</translation>
    </message>
    <message>
        <source>Import PEM…</source>
        <translation>导入 PEM…</translation>
    </message>
    <message>
        <source>Generate certificate…</source>
        <translation>生成证书…</translation>
    </message>
    <message>
        <source>Copy fingerprint</source>
        <translation>复制指纹</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Certificate files</source>
        <translation>证书文件</translation>
    </message>
    <message>
        <source>Renew soon - </source>
        <translation>即将过期，请尽快续期 - </translation>
    </message>
    <message>
        <source>&lt;i&gt;Select a certificate to see its details.&lt;/i&gt;</source>
        <translation>&lt;i&gt;选择一个证书以查看详情。&lt;/i&gt;</translation>
    </message>
    <message>
        <source> (self-signed)</source>
        <translation>（自签名）</translation>
    </message>
    <message>
        <source>certificate</source>
        <translation>证书</translation>
    </message>
    <message>
        <source>not here</source>
        <translation>不在此处</translation>
    </message>
    <message>
        <source>Fingerprint of {f} copied.</source>
        <translation>已复制 {f} 的指纹。</translation>
    </message>
    <message>
        <source>Created {c} and its key {k} (readable only by you).</source>
        <translation>已创建 {c} 及其私钥 {k}（仅你本人可读）。</translation>
    </message>
    <message>
        <source>Import certificate</source>
        <translation>导入证书</translation>
    </message>
    <message>
        <source>Certificates (*.pem *.crt *.cer *.der);;All files (*)</source>
        <translation>证书 (*.pem *.crt *.cer *.der);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Not imported: {e}</source>
        <translation>未导入：{e}</translation>
    </message>
    <message>
        <source>Imported {p}.</source>
        <translation>已导入 {p}。</translation>
    </message>
</context>
<context>
    <name>ChangedCertDialog</name>
    <message>
        <source>Certificate changed</source>
        <translation>证书已更改</translation>
    </message>
    <message>
        <source>The certificate of {server} is not the one you trusted before.</source>
        <translation>{server} 的证书不是你之前信任的那一个。</translation>
    </message>
    <message>
        <source>Trusted before:
{old}

Shown now:
{new}

If the server was reinstalled or got a new certificate, compare the new fingerprint with the one the server prints, then trust it. Otherwise someone may be in between: do not connect.</source>
        <translation>之前信任的：
{old}

现在出示的：
{new}

如果服务端重装过或换了新证书，请把新指纹与服务端输出的指纹比对后再信任。否则可能有人在中间拦截：不要连接。</translation>
    </message>
    <message>
        <source>Trust the new certificate</source>
        <translation>信任新证书</translation>
    </message>
</context>
<context>
    <name>Diagnosis</name>
    <message>
        <source>Nothing is listening on {addr}. Check the port, and that the server is running.</source>
        <translation>{addr} 上没有程序在监听。请检查端口，以及服务端是否在运行。</translation>
    </message>
    <message>
        <source>No answer from {addr}. Check the address, and any firewall between you and the server.</source>
        <translation>{addr} 没有应答。请检查地址，以及你与服务端之间的防火墙。</translation>
    </message>
    <message>
        <source>{addr} cannot be reached from this network. Check the address and your connection.</source>
        <translation>从当前网络无法到达 {addr}。请检查地址和网络连接。</translation>
    </message>
    <message>
        <source>The host name in {addr} is unknown. Check the spelling of the server address.</source>
        <translation>{addr} 中的主机名无法解析。请检查服务端地址的拼写。</translation>
    </message>
    <message>
        <source>{addr} uses TLS, but this profile has encryption off. Edit the profile and set Encryption to &quot;Trust on first use&quot;.</source>
        <translation>{addr} 使用 TLS，但此配置关闭了加密。请编辑配置，把“加密”设为“首次使用时信任”。</translation>
    </message>
    <message>
        <source>{addr} does not use TLS, but this profile does. Set Encryption to &quot;Off&quot;, or turn TLS on at the server.</source>
        <translation>{addr} 没有使用 TLS，但此配置使用了。请把“加密”设为“关闭”，或在服务端开启 TLS。</translation>
    </message>
    <message>
        <source>{addr} refused the username or password. Check both in the profile (the password is case-sensitive).</source>
        <translation>{addr} 拒绝了用户名或密码。请检查配置中的两者（密码区分大小写）。</translation>
    </message>
    <message>
        <source>The certificate of {addr} has changed. If the server was reinstalled, compare the new fingerprint with the server&apos;s and trust it on the Certificates page.</source>
        <translation>{addr} 的证书已更改。如果服务端重装过，请把新指纹与服务端的比对，然后在“证书”页信任它。</translation>
    </message>
    <message>
        <source>The certificate of {addr} does not match the pinned fingerprint. Check the fingerprint in the profile against the server&apos;s.</source>
        <translation>{addr} 的证书与固定的指纹不符。请把配置中的指纹与服务端的比对。</translation>
    </message>
    <message>
        <source>The certificate of {addr} could not be verified. Check the CA file in the profile, or use &quot;Trust on first use&quot;.</source>
        <translation>无法验证 {addr} 的证书。请检查配置中的 CA 文件，或改用“首次使用时信任”。</translation>
    </message>
    <message>
        <source>{addr} closed the connection ({reason}). See the server&apos;s log for why.</source>
        <translation>{addr} 关闭了连接（{reason}）。原因请查看服务端日志。</translation>
    </message>
    <message>
        <source>{addr} is not trusted yet: confirm its certificate fingerprint to connect to it.</source>
        <translation>{addr} 尚未受信任：确认其证书指纹后才会连接它。</translation>
    </message>
    <message>
        <source>Cannot connect to {addr}. See the Logs page for details.</source>
        <translation>无法连接到 {addr}。详情请看“日志”页。</translation>
    </message>
    <message>
        <source>no reason given</source>
        <translation>未说明原因</translation>
    </message>
    <message>
        <source>Something went wrong. See the Logs page for details.</source>
        <translation>出了点问题。详情请看“日志”页。</translation>
    </message>
    <message>
        <source>Timed out. Check the address and your connection.</source>
        <translation>超时。请检查地址和网络连接。</translation>
    </message>
    <message>
        <source>Permission denied: {name}</source>
        <translation>没有权限：{name}</translation>
    </message>
    <message>
        <source>No such file: {name}</source>
        <translation>没有这个文件：{name}</translation>
    </message>
</context>
<context>
    <name>EditReplayDialog</name>
    <message>
        <source>Edit and replay</source>
        <translation>编辑后重放</translation>
    </message>
    <message>
        <source>Content-Length is set to match the body.</source>
        <translation>Content-Length 会按正文自动设置。</translation>
    </message>
    <message>
        <source>Method:</source>
        <translation>方法：</translation>
    </message>
    <message>
        <source>Path:</source>
        <translation>路径：</translation>
    </message>
    <message>
        <source>Headers:</source>
        <translation>请求头：</translation>
    </message>
    <message>
        <source>Body:</source>
        <translation>正文：</translation>
    </message>
    <message>
        <source>Replay</source>
        <translation>重放</translation>
    </message>
</context>
<context>
    <name>EntryDialog</name>
    <message>
        <source>Enabled</source>
        <translation>启用</translation>
    </message>
</context>
<context>
    <name>GenerateDialog</name>
    <message>
        <source>Generate CA</source>
        <translation>生成 CA</translation>
    </message>
    <message>
        <source>Generate certificate</source>
        <translation>生成证书</translation>
    </message>
    <message>
        <source>Common name</source>
        <translation>通用名称 (CN)</translation>
    </message>
    <message>
        <source>DNS names and IPs</source>
        <translation>DNS 名称和 IP</translation>
    </message>
    <message>
        <source>Comma separated; clients verify the address they dial against these.</source>
        <translation>以逗号分隔；客户端会用这些名称校验所连接的地址。</translation>
    </message>
    <message>
        <source> days</source>
        <translation> 天</translation>
    </message>
    <message>
        <source>Valid for</source>
        <translation>有效期</translation>
    </message>
    <message>
        <source>Self-signed</source>
        <translation>自签名</translation>
    </message>
    <message>
        <source>Signed by</source>
        <translation>签发者</translation>
    </message>
    <message>
        <source>File name</source>
        <translation>文件名</translation>
    </message>
    <message>
        <source>Saved as NAME.crt and NAME.key (0600) in {d}</source>
        <translation>保存为 {d} 中的 NAME.crt 和 NAME.key（权限 0600）</translation>
    </message>
    <message>
        <source>Generate</source>
        <translation>生成</translation>
    </message>
</context>
<context>
    <name>HistoryPage</name>
    <message>
        <source>All mappings and proxies</source>
        <translation>全部映射和代理</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>导出 CSV…</translation>
    </message>
    <message>
        <source>Save the daily totals (or the per-minute rows of the last day) as a CSV file</source>
        <translation>将每日合计（或最近一天的每分钟数据）保存为 CSV 文件</translation>
    </message>
    <message>
        <source>Show:</source>
        <translation>显示：</translation>
    </message>
    <message>
        <source>Last 24 hours, per hour</source>
        <translation>最近 24 小时（每小时）</translation>
    </message>
    <message>
        <source>Last 30 days, per day</source>
        <translation>最近 30 天（每天）</translation>
    </message>
    <message>
        <source>Up</source>
        <translation>上行</translation>
    </message>
    <message>
        <source>Down</source>
        <translation>下行</translation>
    </message>
    <message>
        <source>Last 24 hours: ↑ %1 ↓ %2</source>
        <translation>最近 24 小时：↑ %1 ↓ %2</translation>
    </message>
    <message>
        <source>Traffic history is off: %1</source>
        <translation>流量历史已关闭：%1</translation>
    </message>
    <message>
        <source>No traffic recorded yet. Totals per mapping are kept per minute for a day and per day for a year, in %1.</source>
        <translation>尚无流量记录。各映射的合计按分钟保留一天、按天保留一年，存放在 %1。</translation>
    </message>
    <message>
        <source>Kept per minute for a day and per day for a year, in %1.</source>
        <translation>按分钟保留一天、按天保留一年，存放在 %1。</translation>
    </message>
    <message>
        <source>Daily totals (*.csv)</source>
        <translation>每日合计 (*.csv)</translation>
    </message>
    <message>
        <source>Per minute, last 24 hours (*.csv)</source>
        <translation>每分钟，最近 24 小时 (*.csv)</translation>
    </message>
    <message>
        <source>Export traffic history</source>
        <translation>导出流量历史</translation>
    </message>
    <message>
        <source>Exported %1 rows to %2.</source>
        <translation>已导出 %1 行到 %2。</translation>
    </message>
    <message>
        <source>Cannot export: %1</source>
        <translation>无法导出：%1</translation>
    </message>
</context>
<context>
    <name>InspectorPage</name>
    <message>
        <source>Filter by path…</source>
        <translation>按路径筛选…</translation>
    </message>
    <message>
        <source>All methods</source>
        <translation>全部方法</translation>
    </message>
    <message>
        <source>All statuses</source>
        <translation>全部状态</translation>
    </message>
    <message>
        <source>All mappings</source>
        <translation>全部映射</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>清空</translation>
    </message>
    <message>
        <source>Forget every captured request</source>
        <translation>丢弃所有已捕获的请求</translation>
    </message>
    <message>
        <source>No requests captured yet</source>
        <translation>尚未捕获请求</translation>
    </message>
    <message>
        <source>HTTP requests to your http and https mappings show up here with their headers, bodies and responses, ready to replay. They stay in memory only.</source>
        <translation>发往 http 和 https 映射的 HTTP 请求会连同请求头、正文和响应显示在这里，可随时重放。它们只保存在内存中。</translation>
    </message>
    <message>
        <source>Replay</source>
        <translation>重放</translation>
    </message>
    <message>
        <source>Send this request to the local service again</source>
        <translation>把这个请求再次发送给本地服务</translation>
    </message>
    <message>
        <source>Edit and replay…</source>
        <translation>编辑后重放…</translation>
    </message>
    <message>
        <source>Copy as curl</source>
        <translation>复制为 curl</translation>
    </message>
    <message>
        <source>Headers</source>
        <translation>请求头</translation>
    </message>
    <message>
        <source>Query parameters</source>
        <translation>查询参数</translation>
    </message>
    <message>
        <source>Body</source>
        <translation>正文</translation>
    </message>
    <message>
        <source>Summary</source>
        <translation>概要</translation>
    </message>
    <message>
        <source>Request</source>
        <translation>请求</translation>
    </message>
    <message>
        <source>Response</source>
        <translation>响应</translation>
    </message>
    <message>
        <source>Raw</source>
        <translation>原始数据</translation>
    </message>
    <message>
        <source>Select a request to see its details.</source>
        <translation>选择一个请求以查看详情。</translation>
    </message>
    <message>
        <source>Also in your browser and for scripts (ngrok-style API): %1</source>
        <translation>也可在浏览器和脚本中使用（ngrok 风格 API）：%1</translation>
    </message>
    <message>
        <source>The local API is off: %1</source>
        <translation>本地 API 已关闭：%1</translation>
    </message>
    <message>
        <source>The local API is off (Settings).</source>
        <translation>本地 API 已关闭（见设置）。</translation>
    </message>
    <message>
        <source>%1 requests were not captured: more than %2 a second arrived.</source>
        <translation>有 %1 个请求未被捕获：每秒到达的请求超过 %2 个。</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>no response</source>
        <translation>无响应</translation>
    </message>
    <message>
        <source>Mapping</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>Remote address</source>
        <translation>远端地址</translation>
    </message>
    <message>
        <source>Local service</source>
        <translation>本地服务</translation>
    </message>
    <message>
        <source>Started</source>
        <translation>开始时间</translation>
    </message>
    <message>
        <source>Time to first byte</source>
        <translation>首字节时间</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>耗时</translation>
    </message>
    <message>
        <source>Request size</source>
        <translation>请求大小</translation>
    </message>
    <message>
        <source>Response size</source>
        <translation>响应大小</translation>
    </message>
    <message>
        <source>Replay of</source>
        <translation>重放自</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
    <message>
        <source>(no response)</source>
        <translation>（无响应）</translation>
    </message>
    <message>
        <source>Replaying…</source>
        <translation>正在重放…</translation>
    </message>
    <message>
        <source>Replayed: %1</source>
        <translation>已重放：%1</translation>
    </message>
    <message>
        <source>Cannot replay: %1</source>
        <translation>无法重放：%1</translation>
    </message>
    <message>
        <source>curl command copied to the clipboard.</source>
        <translation>curl 命令已复制到剪贴板。</translation>
    </message>
</context>
<context>
    <name>KnownHostsBox</name>
    <message>
        <source>Server</source>
        <translation>服务端</translation>
    </message>
    <message>
        <source>SHA-256</source>
        <translation>SHA-256</translation>
    </message>
    <message>
        <source>Trusted since</source>
        <translation>信任日期</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Trusted servers (trust on first use)</source>
        <translation>已信任的服务端（首次使用时信任）</translation>
    </message>
    <message>
        <source>No server trusted yet. The first TLS connection to a server asks you to compare its fingerprint, and remembers it here.</source>
        <translation>还没有信任任何服务端。首次以 TLS 连接某个服务端时会请你比对其指纹，并记录在这里。</translation>
    </message>
    <message>
        <source>Trust the new certificate</source>
        <translation>信任新证书</translation>
    </message>
    <message>
        <source>Forget</source>
        <translation>忘记</translation>
    </message>
    <message>
        <source>The next connection asks again</source>
        <translation>下次连接时会再次询问</translation>
    </message>
    <message>
        <source>Copy fingerprint</source>
        <translation>复制指纹</translation>
    </message>
    <message>
        <source>changed! now {fp}</source>
        <translation>已更改！现在是 {fp}</translation>
    </message>
</context>
<context>
    <name>LogsPage</name>
    <message>
        <source>Show records of this level and above</source>
        <translation>显示此级别及以上的记录</translation>
    </message>
    <message>
        <source>Search source or message…</source>
        <translation>搜索来源或消息…</translation>
    </message>
    <message>
        <source>Follow</source>
        <translation>跟随</translation>
    </message>
    <message>
        <source>Scroll to new records as they arrive</source>
        <translation>有新记录时自动滚动到底部</translation>
    </message>
    <message>
        <source>Open log folder</source>
        <translation>打开日志文件夹</translation>
    </message>
    <message>
        <source>Clear view</source>
        <translation>清空视图</translation>
    </message>
    <message>
        <source>Clear this view (the log files are kept)</source>
        <translation>清空此视图（日志文件会保留）</translation>
    </message>
    <message>
        <source>Level:</source>
        <translation>级别：</translation>
    </message>
    <message>
        <source>Log file: %1</source>
        <translation>日志文件：%1</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Level</source>
        <translation>级别</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>消息</translation>
    </message>
    <message>
        <source>Critical</source>
        <translation>严重</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>警告</translation>
    </message>
    <message>
        <source>Info</source>
        <translation>信息</translation>
    </message>
    <message>
        <source>Debug</source>
        <translation>调试</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Profiles</source>
        <translation>配置</translation>
    </message>
    <message>
        <source>Mappings</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>Certificates</source>
        <translation>证书</translation>
    </message>
    <message>
        <source>Traffic</source>
        <translation>流量</translation>
    </message>
    <message>
        <source>Inspector</source>
        <translation>请求检查</translation>
    </message>
    <message>
        <source>History</source>
        <translation>流量历史</translation>
    </message>
    <message>
        <source>Server</source>
        <translation>服务端</translation>
    </message>
    <message>
        <source>Logs</source>
        <translation>日志</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Total traffic of all tunnels, per second</source>
        <translation>所有隧道的总流量（每秒）</translation>
    </message>
    <message>
        <source>This page is not available in this build.</source>
        <translation>此版本中没有这个页面。</translation>
    </message>
    <message>
        <source>This page failed to load; see the Logs page.</source>
        <translation>此页面加载失败，请查看日志页面。</translation>
    </message>
    <message>
        <source>%1 of %2 connected</source>
        <translation>已连接 %1/%2</translation>
    </message>
    <message>
        <source>%1 partly</source>
        <translation>%1 个部分连接</translation>
    </message>
    <message>
        <source>server on</source>
        <translation>服务端运行中</translation>
    </message>
</context>
<context>
    <name>MappingDialog</name>
    <message>
        <source>Requests to the server&apos;s HTTP port whose Host matches the domain reach the local address.</source>
        <translation>发往服务端 HTTP 端口、Host 与该域名匹配的请求会到达本地地址。</translation>
    </message>
    <message>
        <source>Like http, on the server&apos;s HTTPS port (TLS ends at the server).</source>
        <translation>与 http 相同，但使用服务端的 HTTPS 端口（TLS 在服务端终止）。</translation>
    </message>
    <message>
        <source>Raw TCP: connections to the server&apos;s TCP port (or the remote port below) reach the local address.</source>
        <translation>原始 TCP：连到服务端 TCP 端口（或下面的远程端口）的连接会到达本地地址。</translation>
    </message>
    <message>
        <source>The server&apos;s proxy port forwards through this client to any target (an exit node).</source>
        <translation>服务端的代理端口经由本客户端转发到任意目标（出口节点）。</translation>
    </message>
    <message>
        <source>Edit mapping</source>
        <translation>编辑映射</translation>
    </message>
    <message>
        <source>Add mapping</source>
        <translation>添加映射</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Mode</source>
        <translation>模式</translation>
    </message>
    <message>
        <source>Local address</source>
        <translation>本地地址</translation>
    </message>
    <message>
        <source>The service on this machine, as host:port.</source>
        <translation>本机上的服务，格式为 host:port。</translation>
    </message>
    <message>
        <source>Domain</source>
        <translation>域名</translation>
    </message>
    <message>
        <source>Host name the server routes to this mapping; empty = catch-all.</source>
        <translation>服务端转发到此映射的主机名；留空表示匹配所有。</translation>
    </message>
    <message>
        <source>shared port</source>
        <translation>共享端口</translation>
    </message>
    <message>
        <source>Remote port</source>
        <translation>远程端口</translation>
    </message>
    <message>
        <source>A public TCP port of its own on the server (leave at &quot;shared port&quot; to use the server&apos;s TCP listener).</source>
        <translation>在服务端为此映射单独开放的公网 TCP 端口（保持“共享端口”则使用服务端的 TCP 监听端口）。</translation>
    </message>
    <message>
        <source>Header rules</source>
        <translation>请求头规则</translation>
    </message>
    <message>
        <source>One per line: [proxy] [+|-|?] name [value]. &quot;proxy&quot; rewrites the request to your service, otherwise the response; + add, - remove, ? set if missing.</source>
        <translation>每行一条：[proxy] [+|-|?] 名称 [值]。带 “proxy” 时改写发往你服务的请求，否则改写响应；+ 添加，- 删除，? 缺少时设置。</translation>
    </message>
    <message>
        <source>(not needed for proxy)</source>
        <translation>（代理模式无需填写）</translation>
    </message>
</context>
<context>
    <name>MappingsPage</name>
    <message>
        <source>Profile:</source>
        <translation>配置：</translation>
    </message>
    <message>
        <source>Mappings</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>No mappings yet</source>
        <translation>还没有映射</translation>
    </message>
    <message>
        <source>A mapping publishes a service of this machine (say a web app on 127.0.0.1:8080) through the server, like an frp proxy.</source>
        <translation>映射通过服务端把本机的服务（例如 127.0.0.1:8080 上的网站）发布出去，类似 frp 的代理。</translation>
    </message>
    <message>
        <source>Local proxies</source>
        <translation>本地代理</translation>
    </message>
    <message>
        <source>No local proxies</source>
        <translation>没有本地代理</translation>
    </message>
    <message>
        <source>A local proxy listener (HTTP, HTTPS CONNECT, SOCKS5) lets apps on this machine reach the server&apos;s network, like Clash&apos;s mixed port.</source>
        <translation>本地代理监听（HTTP、HTTPS CONNECT、SOCKS5）让本机的应用访问服务端所在的网络，类似 Clash 的混合端口。</translation>
    </message>
    <message>
        <source>No profile yet</source>
        <translation>还没有配置</translation>
    </message>
    <message>
        <source>Create or import a server profile on the Profiles page first; its mappings and local proxies are edited here.</source>
        <translation>请先在“配置”页面新建或导入服务器配置；它的映射和本地代理在这里编辑。</translation>
    </message>
    <message>
        <source>Add mapping</source>
        <translation>添加映射</translation>
    </message>
    <message>
        <source>Add local proxy</source>
        <translation>添加本地代理</translation>
    </message>
    <message>
        <source>Edit…</source>
        <translation>编辑…</translation>
    </message>
    <message>
        <source>Duplicate…</source>
        <translation>复制…</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Copy address</source>
        <translation>复制地址</translation>
    </message>
    <message>
        <source>Saved, but {server} could not open {name}: {reason}</source>
        <translation>已保存，但 {server} 无法开放 {name}：{reason}</translation>
    </message>
    <message>
        <source>Saved, but the server could not open {name}: {reason}</source>
        <translation>已保存，但服务端无法开启 {name}：{reason}</translation>
    </message>
    <message>
        <source>Copied {addr}.</source>
        <translation>已复制 {addr}。</translation>
    </message>
    <message>
        <source>No public address yet: connect the profile first.</source>
        <translation>还没有公网地址：请先连接该配置。</translation>
    </message>
    <message>
        <source>Copy {addr} (via {server})</source>
        <translation>复制 {addr}（经 {server}）</translation>
    </message>
    <message>
        <source>Tunnel running: changes apply immediately.</source>
        <translation>隧道运行中：修改会立即生效。</translation>
    </message>
    <message>
        <source>Not connected: changes are saved and used on the next connect.</source>
        <translation>未连接：修改会被保存，并在下次连接时使用。</translation>
    </message>
    <message>
        <source>Duplicate {name}</source>
        <translation>复制 {name}</translation>
    </message>
    <message>
        <source>Saved and applied; waiting for the server&apos;s answer…</source>
        <translation>已保存并应用；正在等待服务端的答复…</translation>
    </message>
    <message>
        <source>Not saved: {e}</source>
        <translation>未保存：{e}</translation>
    </message>
    <message>
        <source>Saved; applying to the running tunnel…</source>
        <translation>已保存，正在应用到运行中的隧道…</translation>
    </message>
    <message>
        <source>Saved and applied.</source>
        <translation>已保存并生效。</translation>
    </message>
    <message>
        <source>Saved, but the tunnel refused it: {e}</source>
        <translation>已保存，但隧道拒绝了此修改：{e}</translation>
    </message>
    <message>
        <source>Saved. Used on the next connect.</source>
        <translation>已保存，将在下次连接时使用。</translation>
    </message>
</context>
<context>
    <name>ProfileDialog</name>
    <message>
        <source>Edit profile</source>
        <translation>编辑配置</translation>
    </message>
    <message>
        <source>New profile</source>
        <translation>新建配置</translation>
    </message>
    <message>
        <source>My server</source>
        <translation>我的服务端</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Servers</source>
        <translation>服务器</translation>
    </message>
    <message>
        <source>The center server as host:port (wmproxy&apos;s default port is 8091). With several, a link is kept to each and any of them serves your mappings.</source>
        <translation>中心服务器，格式为 主机:端口（wmproxy 默认端口为 8091）。填写多个时，会与每一个都保持连接，其中任何一个都能提供你的映射。</translation>
    </message>
    <message>
        <source>Username</source>
        <translation>用户名</translation>
    </message>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>unchanged (stored in the keyring)</source>
        <translation>未更改（保存在系统钥匙串中）</translation>
    </message>
    <message>
        <source>Kept in your OS keyring, never written to a file or an export.</source>
        <translation>保存在系统钥匙串中，绝不会写入文件或导出内容。</translation>
    </message>
    <message>
        <source>Encryption</source>
        <translation>加密</translation>
    </message>
    <message>
        <source>CA certificate</source>
        <translation>CA 证书</translation>
    </message>
    <message>
        <source>PEM file of the CA that signed the server&apos;s certificate.</source>
        <translation>签发服务器证书的 CA 的 PEM 文件。</translation>
    </message>
    <message>
        <source>Fingerprint</source>
        <translation>指纹</translation>
    </message>
    <message>
        <source>SHA-256 of the server&apos;s certificate (64 hex digits).</source>
        <translation>服务器证书的 SHA-256（64 位十六进制）。</translation>
    </message>
    <message>
        <source>Server name (SNI)</source>
        <translation>服务器名称 (SNI)</translation>
    </message>
    <message>
        <source>(from address)</source>
        <translation>（取自地址）</translation>
    </message>
    <message>
        <source>Client certificate</source>
        <translation>客户端证书</translation>
    </message>
    <message>
        <source>Only for servers that require client certificates (two-way TLS).</source>
        <translation>仅用于要求客户端证书（双向 TLS）的服务器。</translation>
    </message>
    <message>
        <source>Client key</source>
        <translation>客户端私钥</translation>
    </message>
    <message>
        <source>Connect when the app starts</source>
        <translation>启动应用时自动连接</translation>
    </message>
    <message>
        <source>Test connection</source>
        <translation>测试连接</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>PEM files (*.pem *.crt *.cer *.key);;All files (*)</source>
        <translation>PEM 文件 (*.pem *.crt *.cer *.key);;所有文件 (*)</translation>
    </message>
    <message>
        <source>enter the password for this username</source>
        <translation>请输入此用户名的密码</translation>
    </message>
    <message>
        <source>a password needs a username</source>
        <translation>设置密码需要同时设置用户名</translation>
    </message>
    <message>
        <source>choose the CA certificate file</source>
        <translation>请选择 CA 证书文件</translation>
    </message>
    <message>
        <source>no such file</source>
        <translation>没有这个文件</translation>
    </message>
    <message>
        <source>a client certificate needs both the certificate and its key</source>
        <translation>客户端证书需要同时提供证书和私钥</translation>
    </message>
    <message>
        <source>the same as server {n}</source>
        <translation>与服务器 {n} 重复</translation>
    </message>
    <message>
        <source>Server {n}: {problem}</source>
        <translation>服务器 {n}：{problem}</translation>
    </message>
    <message>
        <source>Connecting to {s}…</source>
        <translation>正在连接 {s}…</translation>
    </message>
    <message>
        <source>Not connected: the server&apos;s certificate was not trusted.</source>
        <translation>未连接：服务端的证书未被信任。</translation>
    </message>
    <message>
        <source>Not connected to {s}: its certificate was not trusted.</source>
        <translation>未连接 {s}：其证书未被信任。</translation>
    </message>
    <message>
        <source>The new certificate is trusted. Test again to connect.</source>
        <translation>已信任新证书。请再次测试以连接。</translation>
    </message>
</context>
<context>
    <name>ProfilesPage</name>
    <message>
        <source>No server profiles yet</source>
        <translation>还没有服务器配置</translation>
    </message>
    <message>
        <source>Add the wmproxy server you connect to, import an existing wmproxy config (client.toml / client.yaml), or paste a wmproxy:// link someone shared.</source>
        <translation>添加你要连接的 wmproxy 服务器，导入现有的 wmproxy 配置（client.toml / client.yaml），或粘贴别人分享的 wmproxy:// 链接。</translation>
    </message>
    <message>
        <source>New profile…</source>
        <translation>新建配置…</translation>
    </message>
    <message>
        <source>Import file…</source>
        <translation>导入文件…</translation>
    </message>
    <message>
        <source>Paste link…</source>
        <translation>粘贴链接…</translation>
    </message>
    <message>
        <source>From file (export or wmproxy TOML/YAML)…</source>
        <translation>从文件导入（导出文件或 wmproxy TOML/YAML）…</translation>
    </message>
    <message>
        <source>From wmproxy:// link…</source>
        <translation>从 wmproxy:// 链接导入…</translation>
    </message>
    <message>
        <source>To file…</source>
        <translation>导出到文件…</translation>
    </message>
    <message>
        <source>Copy wmproxy:// link</source>
        <translation>复制 wmproxy:// 链接</translation>
    </message>
    <message>
        <source>Profiles not loaded: {e}</source>
        <translation>配置未能加载：{e}</translation>
    </message>
    <message>
        <source>Disconnect</source>
        <translation>断开</translation>
    </message>
    <message>
        <source>Connect</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>Trust on first use (ask once, then pin)</source>
        <translation>首次使用时信任（询问一次，之后固定）</translation>
    </message>
    <message>
        <source>Pin a SHA-256 fingerprint</source>
        <translation>固定 SHA-256 指纹</translation>
    </message>
    <message>
        <source>Verify with a CA certificate</source>
        <translation>用 CA 证书验证</translation>
    </message>
    <message>
        <source>Off (plain TCP)</source>
        <translation>关闭（明文 TCP）</translation>
    </message>
    <message>
        <source>Trust on first use</source>
        <translation>首次使用时信任</translation>
    </message>
    <message>
        <source>Pinned fingerprint</source>
        <translation>固定指纹</translation>
    </message>
    <message>
        <source>CA certificate</source>
        <translation>CA 证书</translation>
    </message>
    <message>
        <source>Disconnected</source>
        <translation>未连接</translation>
    </message>
    <message>
        <source>Connecting…</source>
        <translation>正在连接…</translation>
    </message>
    <message>
        <source>Connected</source>
        <translation>已连接</translation>
    </message>
    <message>
        <source>Partly connected</source>
        <translation>部分连接</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Down</source>
        <translation>已断开</translation>
    </message>
    <message>
        <source>Connected to {s} and logged in. Certificate SHA-256 {fp}</source>
        <translation>已连接到 {s} 并登录。证书 SHA-256 {fp}</translation>
    </message>
    <message>
        <source>Connected to {s} and logged in.</source>
        <translation>已连接到 {s} 并登录。</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Server</source>
        <translation>服务端</translation>
    </message>
    <message>
        <source>Encryption</source>
        <translation>加密</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>详情</translation>
    </message>
    <message>
        <source>New…</source>
        <translation>新建…</translation>
    </message>
    <message>
        <source>Edit…</source>
        <translation>编辑…</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Reconnect now</source>
        <translation>立即重连</translation>
    </message>
    <message>
        <source>Import</source>
        <translation>导入</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>{up} of {n} links up</source>
        <translation>{n} 条链路中 {up} 条在线</translation>
    </message>
    <message>
        <source>next try in {n} s</source>
        <translation>{n} 秒后重试</translation>
    </message>
    <message>
        <source>trying again…</source>
        <translation>正在重试…</translation>
    </message>
    <message>
        <source>local proxies go through this server</source>
        <translation>本地代理经由此服务器</translation>
    </message>
    <message>
        <source>Servers of {name}</source>
        <translation>{name} 的服务器</translation>
    </message>
    <message>
        <source>Trust…</source>
        <translation>信任…</translation>
    </message>
    <message>
        <source>Show this server&apos;s certificate and decide whether to trust it</source>
        <translation>查看此服务器的证书并决定是否信任</translation>
    </message>
    <message>
        <source>Try this server again without waiting</source>
        <translation>不再等待，立即重试此服务器</translation>
    </message>
    <message>
        <source>{name}: connected.</source>
        <translation>{name}：已连接。</translation>
    </message>
    <message>
        <source>{name}: the certificate of {server} is trusted; connecting…</source>
        <translation>{name}：已信任 {server} 的证书，正在连接…</translation>
    </message>
    <message>
        <source>{name}: the new certificate is trusted; connecting…</source>
        <translation>{name}：已信任新证书，正在连接…</translation>
    </message>
    <message>
        <source>Saved {name}.</source>
        <translation>已保存 {name}。</translation>
    </message>
    <message>
        <source>Delete profile</source>
        <translation>删除配置</translation>
    </message>
    <message>
        <source>Delete {name} and its saved password?</source>
        <translation>删除 {name} 及其保存的密码？</translation>
    </message>
    <message>
        <source>Deleted.</source>
        <translation>已删除。</translation>
    </message>
    <message>
        <source>Connecting {name}…</source>
        <translation>正在连接 {name}…</translation>
    </message>
    <message>
        <source>Not connected: the server&apos;s certificate was not trusted.</source>
        <translation>未连接：服务器证书未被信任。</translation>
    </message>
    <message>
        <source>Not connected: the certificate of {server} was not trusted.</source>
        <translation>未连接：{server} 的证书未被信任。</translation>
    </message>
    <message>
        <source>Import profile</source>
        <translation>导入配置</translation>
    </message>
    <message>
        <source>Profiles and wmproxy configs (*.toml *.yaml *.yml);;All files (*)</source>
        <translation>配置文件和 wmproxy 配置 (*.toml *.yaml *.yml);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Not imported: {e}</source>
        <translation>未导入：{e}</translation>
    </message>
    <message>
        <source>Imported {name} ({n} mappings).</source>
        <translation>已导入 {name}（{n} 个映射）。</translation>
    </message>
    <message>
        <source>Use the link in the clipboard ({name})</source>
        <translation>使用剪贴板中的链接（{name}）</translation>
    </message>
    <message>
        <source>Import link</source>
        <translation>导入链接</translation>
    </message>
    <message>
        <source>Paste the wmproxy:// link the server printed or someone shared:</source>
        <translation>粘贴服务端输出或他人分享的 wmproxy:// 链接：</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>Password of {user} on {server}
(kept in your OS keyring, never in a file):</source>
        <translation>{server} 上 {user} 的密码
（保存在系统钥匙串中，从不写入文件）：</translation>
    </message>
    <message>
        <source>Imported {name} without a password: enter it with Edit before connecting.</source>
        <translation>已导入 {name}，但没有密码：连接前请用“编辑”输入密码。</translation>
    </message>
    <message>
        <source>Imported {name}. Next: add a mapping on the Mappings page, then Connect.</source>
        <translation>已导入 {name}。下一步：在“映射”页添加映射，然后点击“连接”。</translation>
    </message>
    <message>
        <source>Export profile</source>
        <translation>导出配置</translation>
    </message>
    <message>
        <source>Profile (*.toml)</source>
        <translation>配置 (*.toml)</translation>
    </message>
    <message>
        <source>Not exported: {e}</source>
        <translation>未导出：{e}</translation>
    </message>
    <message>
        <source>Exported to {path} (without password).</source>
        <translation>已导出到 {path}（不含密码）。</translation>
    </message>
    <message>
        <source>Link copied (without password).</source>
        <translation>链接已复制（不含密码）。</translation>
    </message>
</context>
<context>
    <name>ProxyDialog</name>
    <message>
        <source>Edit local proxy</source>
        <translation>编辑本地代理</translation>
    </message>
    <message>
        <source>Add local proxy</source>
        <translation>添加本地代理</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Listen on</source>
        <translation>监听地址</translation>
    </message>
    <message>
        <source>127.0.0.1 keeps it private to this machine; 0.0.0.0 opens it to your LAN.</source>
        <translation>127.0.0.1 仅本机可用；0.0.0.0 会向局域网开放。</translation>
    </message>
    <message>
        <source>Protocols</source>
        <translation>协议</translation>
    </message>
    <message>
        <source>Username</source>
        <translation>用户名</translation>
    </message>
    <message>
        <source>(no authentication)</source>
        <translation>（无需认证）</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>unchanged (stored in the keyring)</source>
        <translation>未更改（保存在系统钥匙串中）</translation>
    </message>
    <message>
        <source>Stored in the OS keyring, never in a file.</source>
        <translation>保存在系统钥匙串中，绝不写入文件。</translation>
    </message>
    <message>
        <source>enter a password for this username</source>
        <translation>请输入此用户名的密码</translation>
    </message>
</context>
<context>
    <name>ServerListEdit</name>
    <message>
        <source>Add server</source>
        <translation>添加服务器</translation>
    </message>
    <message>
        <source>Keep a link to one more server: any of them can serve your mappings</source>
        <translation>再与一台服务器保持连接：其中任何一台都能提供你的映射</translation>
    </message>
    <message>
        <source>Remove this server</source>
        <translation>移除此服务器</translation>
    </message>
</context>
<context>
    <name>ServerPage</name>
    <message>
        <source>Listen for clients on</source>
        <translation>客户端连接地址</translation>
    </message>
    <message>
        <source>host:port clients connect to (wmproxy&apos;s default port is 8091).</source>
        <translation>客户端连接的 host:port（wmproxy 默认端口为 8091）。</translation>
    </message>
    <message>
        <source>Clients connect with TLS</source>
        <translation>客户端使用 TLS 连接</translation>
    </message>
    <message>
        <source>Without a certificate below, one is generated once and reused; clients trust it on first use or pin it.</source>
        <translation>如果下面不指定证书，会生成一个并持续使用；客户端可首次使用时信任或固定其指纹。</translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation>证书</translation>
    </message>
    <message>
        <source>(generated)</source>
        <translation>（自动生成）</translation>
    </message>
    <message>
        <source>Private key</source>
        <translation>私钥</translation>
    </message>
    <message>
        <source>Username</source>
        <translation>用户名</translation>
    </message>
    <message>
        <source>(no login)</source>
        <translation>（无需登录）</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <source>unchanged (stored in the keyring)</source>
        <translation>未更改（保存在系统钥匙串中）</translation>
    </message>
    <message>
        <source>Kept in your OS keyring.</source>
        <translation>保存在系统钥匙串中。</translation>
    </message>
    <message>
        <source>Allow clients without login on a public address</source>
        <translation>允许客户端在公网地址上免登录连接</translation>
    </message>
    <message>
        <source>(off)</source>
        <translation>（关闭）</translation>
    </message>
    <message>
        <source>Start server</source>
        <translation>启动服务端</translation>
    </message>
    <message>
        <source>Import wmproxy config…</source>
        <translation>导入 wmproxy 配置…</translation>
    </message>
    <message>
        <source>Copy certificate fingerprint</source>
        <translation>复制证书指纹</translation>
    </message>
    <message>
        <source>Connect a client</source>
        <translation>连接客户端</translation>
    </message>
    <message>
        <source>In the client&apos;s tray app: Profiles &gt; Paste link, then type the password. The link holds no password.</source>
        <translation>在客户端的托盘程序中：配置 &gt; 粘贴链接，然后输入密码。链接中不含密码。</translation>
    </message>
    <message>
        <source>Copy link</source>
        <translation>复制链接</translation>
    </message>
    <message>
        <source>Server settings</source>
        <translation>服务端设置</translation>
    </message>
    <message>
        <source>No clients connected</source>
        <translation>没有已连接的客户端</translation>
    </message>
    <message>
        <source>Start the server, then connect a wmproxy or wmproxy-gui client to it. Each client and the mappings it announced show up here.</source>
        <translation>启动服务端后，用 wmproxy 或 wmproxy-gui 客户端连接它。每个客户端及其声明的映射都会显示在这里。</translation>
    </message>
    <message>
        <source>Connected clients</source>
        <translation>已连接的客户端</translation>
    </message>
    <message>
        <source>Saved settings not loaded: {e}</source>
        <translation>已保存的设置未能加载：{e}</translation>
    </message>
    <message>
        <source>enter the password clients must send</source>
        <translation>请输入客户端必须提供的密码</translation>
    </message>
    <message>
        <source>a password needs a username</source>
        <translation>设置密码需要同时设置用户名</translation>
    </message>
    <message>
        <source>set both the certificate and its key, or neither</source>
        <translation>请同时设置证书和私钥，或都不设置</translation>
    </message>
    <message>
        <source>anyone could connect and use this server: set a username and password, or tick &quot;Allow clients without login&quot;</source>
        <translation>任何人都能连接并使用此服务端：请设置用户名和密码，或勾选“允许客户端在公网地址上免登录连接”</translation>
    </message>
    <message>
        <source>Not started: {e}</source>
        <translation>未启动：{e}</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>HTTP mappings</source>
        <translation>HTTP 映射</translation>
    </message>
    <message>
        <source>HTTPS mappings</source>
        <translation>HTTPS 映射</translation>
    </message>
    <message>
        <source>TCP mappings</source>
        <translation>TCP 映射</translation>
    </message>
    <message>
        <source>Proxy (exit) port</source>
        <translation>代理（出口）端口</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Stop server</source>
        <translation>停止服务端</translation>
    </message>
    <message>
        <source>certificate SHA-256: {fp}</source>
        <translation>证书 SHA-256：{fp}</translation>
    </message>
    <message>
        <source>Listening - </source>
        <translation>正在监听 - </translation>
    </message>
    <message>
        <source>Select a client to see its mappings and open channels.</source>
        <translation>选择一个客户端以查看其映射和打开的通道。</translation>
    </message>
    <message>
        <source>{peer} as {user}, {tls}</source>
        <translation>{peer}，用户 {user}，{tls}</translation>
    </message>
    <message>
        <source>(anonymous)</source>
        <translation>（匿名）</translation>
    </message>
    <message>
        <source>plain TCP</source>
        <translation>明文 TCP</translation>
    </message>
    <message>
        <source>No mappings announced.</source>
        <translation>没有声明映射。</translation>
    </message>
    <message>
        <source>mapping {name}: {n} open channels, {b} transferred</source>
        <translation>映射 {name}：{n} 个打开的通道，已传输 {b}</translation>
    </message>
    <message>
        <source>Import server config</source>
        <translation>导入服务端配置</translation>
    </message>
    <message>
        <source>wmproxy configs (*.toml *.yaml *.yml);;All files (*)</source>
        <translation>wmproxy 配置 (*.toml *.yaml *.yml);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Not imported: {e}</source>
        <translation>未导入：{e}</translation>
    </message>
    <message>
        <source>Imported {p}; Start saves it (password to the keyring).</source>
        <translation>已导入 {p}；点击启动时保存（密码存入系统钥匙串）。</translation>
    </message>
</context>
<context>
    <name>ServerReason</name>
    <message>
        <source>this server has no {mode} listener (server setting {key})</source>
        <translation>此服务器没有 {mode} 监听端口（服务器设置 {key}）</translation>
    </message>
    <message>
        <source>the catch-all {mode} mapping is served by another client ({peer}); this mapping takes over when it disconnects</source>
        <translation>通配的 {mode} 映射已由另一个客户端（{peer}）提供；它断开后由本映射接管</translation>
    </message>
    <message>
        <source>{domain} ({mode}) is served by another client ({peer}); this mapping takes over when it disconnects</source>
        <translation>{domain}（{mode}）已由另一个客户端（{peer}）提供；它断开后由本映射接管</translation>
    </message>
    <message>
        <source>this server has no shared {mode} port (server setting {key}); give the mapping a remote port</source>
        <translation>此服务器没有共享的 {mode} 端口（服务器设置 {key}）；请为映射指定远程端口</translation>
    </message>
    <message>
        <source>the shared {mode} port serves the newer mapping {name}; give this one a remote port</source>
        <translation>共享的 {mode} 端口正用于较新的映射 {name}；请为本映射指定远程端口</translation>
    </message>
    <message>
        <source>the server does not know the mapping mode {mode}</source>
        <translation>服务器不支持映射模式 {mode}</translation>
    </message>
    <message>
        <source>remote port {port} is used by another client&apos;s mapping</source>
        <translation>远程端口 {port} 已被另一个客户端的映射占用</translation>
    </message>
    <message>
        <source>remote port {port} is refused: the server takes ports from {low} up</source>
        <translation>远程端口 {port} 被拒绝：服务器只接受 {low} 及以上的端口</translation>
    </message>
    <message>
        <source>{addr} is in use on the server</source>
        <translation>服务器上的 {addr} 已被占用</translation>
    </message>
    <message>
        <source>the server cannot open {addr}: permission denied (ports below 1024 need privileges)</source>
        <translation>服务器无法打开 {addr}：权限不足（1024 以下的端口需要特权）</translation>
    </message>
    <message>
        <source>the server cannot open {addr}: it has no such address</source>
        <translation>服务器无法打开 {addr}：服务器没有这个地址</translation>
    </message>
    <message>
        <source>the server cannot open {addr}: {why}</source>
        <translation>服务器无法打开 {addr}：{why}</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Start wmproxy-gui when I log in</source>
        <translation>登录时启动 wmproxy-gui</translation>
    </message>
    <message>
        <source>Starts minimized in the tray. Recorded in: %1</source>
        <translation>启动后最小化到托盘。记录位置：%1</translation>
    </message>
    <message>
        <source>Connect profiles marked “auto-connect” when the app starts</source>
        <translation>应用启动时连接标记为“自动连接”的配置</translation>
    </message>
    <message>
        <source>Clicking the tray icon connects or disconnects this profile</source>
        <translation>单击托盘图标可连接或断开此配置</translation>
    </message>
    <message>
        <source>Startup and tray</source>
        <translation>启动与托盘</translation>
    </message>
    <message>
        <source>Tray click toggles:</source>
        <translation>单击托盘切换：</translation>
    </message>
    <message>
        <source>Notify me when a connection drops or comes back</source>
        <translation>连接断开或恢复时通知我</translation>
    </message>
    <message>
        <source>At most one notification per profile every 30 seconds</source>
        <translation>每个配置每 30 秒最多通知一次</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>通知</translation>
    </message>
    <message>
        <source>Restart wmproxy-gui to use the new language.</source>
        <translation>重启 wmproxy-gui 后使用新语言。</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>Interface language:</source>
        <translation>界面语言：</translation>
    </message>
    <message>
        <source>Serve the request inspector&apos;s web page and API on this computer</source>
        <translation>在本机提供请求检查的网页和 API</translation>
    </message>
    <message>
        <source>ngrok-style API on 127.0.0.1 with a free port; only programs on this computer can reach it</source>
        <translation>ngrok 风格的 API，监听 127.0.0.1 上的空闲端口；只有本机程序可以访问</translation>
    </message>
    <message>
        <source>Request inspector</source>
        <translation>请求检查</translation>
    </message>
    <message>
        <source>Address:</source>
        <translation>地址：</translation>
    </message>
    <message>
        <source>Folders</source>
        <translation>文件夹</translation>
    </message>
    <message>
        <source>Settings and profiles</source>
        <translation>设置和配置</translation>
    </message>
    <message>
        <source>Certificates and known hosts</source>
        <translation>证书和已知主机</translation>
    </message>
    <message>
        <source>Logs</source>
        <translation>日志</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>打开</translation>
    </message>
    <message>
        <source>About</source>
        <translation>关于</translation>
    </message>
    <message>
        <source>A desktop client and server for wmproxy-compatible tunnels.</source>
        <translation>兼容 wmproxy 的隧道桌面客户端与服务端。</translation>
    </message>
    <message>
        <source>Could not change start-on-login: %1</source>
        <translation>无法更改登录时启动：%1</translation>
    </message>
    <message>
        <source>Not served: %1</source>
        <translation>未提供：%1</translation>
    </message>
    <message>
        <source>Not served</source>
        <translation>未提供</translation>
    </message>
    <message>
        <source>The first profile</source>
        <translation>第一个配置</translation>
    </message>
</context>
<context>
    <name>ThroughputGraph</name>
    <message>
        <source>{n} min ago</source>
        <translation>{n} 分钟前</translation>
    </message>
    <message>
        <source>now</source>
        <translation>现在</translation>
    </message>
</context>
<context>
    <name>TofuDialog</name>
    <message>
        <source>Trust this server?</source>
        <translation>信任此服务器？</translation>
    </message>
    <message>
        <source>This is the first TLS connection to {server}.</source>
        <translation>这是第一次通过 TLS 连接 {server}。</translation>
    </message>
    <message>
        <source>Its certificate&apos;s SHA-256 fingerprint is:

{fp}

Compare it with the one the server shows (its log or Server page). If you trust it, it is remembered and a different certificate will be refused later.</source>
        <translation>它的证书 SHA-256 指纹是：

{fp}

请与服务器显示的指纹（其日志或“服务端”页面）进行比对。信任后会被记住，以后若证书改变将被拒绝。</translation>
    </message>
    <message>
        <source>Trust and continue</source>
        <translation>信任并继续</translation>
    </message>
</context>
<context>
    <name>TrafficPage</name>
    <message>
        <source>Filter by mapping, peer or target…</source>
        <translation>按映射、对端或目标筛选…</translation>
    </message>
    <message>
        <source>Close connection</source>
        <translation>关闭连接</translation>
    </message>
    <message>
        <source>Close the selected live connection</source>
        <translation>关闭所选的活动连接</translation>
    </message>
    <message>
        <source>No open channels</source>
        <translation>没有打开的通道</translation>
    </message>
    <message>
        <source>Connections through your mappings and local proxies show up here live, with their peers, targets and rates. Connect a profile or start the server.</source>
        <translation>经过映射和本地代理的连接会实时显示在这里，包括对端、目标和速率。请连接一个配置或启动服务端。</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>活动</translation>
    </message>
    <message>
        <source>Closed</source>
        <translation>已关闭</translation>
    </message>
    <message>
        <source>Up</source>
        <translation>上传</translation>
    </message>
    <message>
        <source>Down</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Open ({n})</source>
        <translation>活动（{n}）</translation>
    </message>
    <message>
        <source>Closed ({n})</source>
        <translation>已关闭（{n}）</translation>
    </message>
    <message>
        <source>{n} open · total ↑ {up} ↓ {down} · now ↑ {ur} ↓ {dr}</source>
        <translation>{n} 个打开 · 总计 ↑ {up} ↓ {down} · 当前 ↑ {ur} ↓ {dr}</translation>
    </message>
</context>
<context>
    <name>TrayIcon</name>
    <message>
        <source>Stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>Connecting</source>
        <translation>连接中</translation>
    </message>
    <message>
        <source>Connected</source>
        <translation>已连接</translation>
    </message>
    <message>
        <source>Partly connected</source>
        <translation>部分连接</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>%1 of %2 connected</source>
        <translation>已连接 %1 / %2</translation>
    </message>
    <message>
        <source>%1 partly</source>
        <translation>%1 个部分连接</translation>
    </message>
    <message>
        <source>%1 of %2 links up</source>
        <translation>%2 条链路中 %1 条在线</translation>
    </message>
    <message>
        <source>next try in %1 s</source>
        <translation>%1 秒后重试</translation>
    </message>
    <message>
        <source>Down</source>
        <translation>已断开</translation>
    </message>
    <message>
        <source>Server: %1</source>
        <translation>服务端：%1</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>Starting</source>
        <translation>启动中</translation>
    </message>
    <message>
        <source>No profiles yet: add one in the window</source>
        <translation>还没有配置：请在主窗口中添加</translation>
    </message>
    <message>
        <source>Disconnect</source>
        <translation>断开</translation>
    </message>
    <message>
        <source>Connect</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>Mappings of %1</source>
        <translation>%1 的映射</translation>
    </message>
    <message>
        <source>Reconnect now</source>
        <translation>立即重连</translation>
    </message>
    <message>
        <source>Stop server</source>
        <translation>停止服务端</translation>
    </message>
    <message>
        <source>Open wmproxy-gui</source>
        <translation>打开 wmproxy-gui</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <source>Disconnect everything and exit</source>
        <translation>断开所有连接并退出</translation>
    </message>
    <message>
        <source>wmproxy-gui is still running</source>
        <translation>wmproxy-gui 仍在运行</translation>
    </message>
    <message>
        <source>It keeps your tunnels up from the system tray. Use Quit in the tray menu to exit.</source>
        <translation>它会在系统托盘中保持隧道连接。要退出，请使用托盘菜单中的“退出”。</translation>
    </message>
</context>
<context>
    <name>TunnelController</name>
    <message>
        <source>This profile no longer exists.</source>
        <translation>此配置已不存在。</translation>
    </message>
    <message>
        <source>Connection lost: %1</source>
        <translation>连接已断开：%1</translation>
    </message>
    <message>
        <source>Reconnecting…</source>
        <translation>正在重新连接…</translation>
    </message>
    <message>
        <source>%1 of %2 links up</source>
        <translation>%2 条链路中 %1 条在线</translation>
    </message>
    <message>
        <source>Link lost: %1</source>
        <translation>链路断开：%1</translation>
    </message>
    <message>
        <source>%1 is down; %2.</source>
        <translation>%1 已断开；%2。</translation>
    </message>
    <message>
        <source>Link restored: %1</source>
        <translation>链路已恢复：%1</translation>
    </message>
    <message>
        <source>Connected to %1 again; %2.</source>
        <translation>已重新连接 %1；%2。</translation>
    </message>
    <message>
        <source>Cannot connect: %1</source>
        <translation>无法连接：%1</translation>
    </message>
    <message>
        <source>Connection restored: %1</source>
        <translation>连接已恢复：%1</translation>
    </message>
    <message>
        <source>Connected to %1 again.</source>
        <translation>已重新连接到 %1。</translation>
    </message>
</context>
<context>
    <name>Validation</name>
    <message>
        <source>enter HOST:PORT, e.g. example.com:8091</source>
        <translation>请输入 主机:端口，例如 example.com:8091</translation>
    </message>
    <message>
        <source>{text} is not HOST:PORT (IPv6 is written [::1]:80)</source>
        <translation>{text} 不是 主机:端口 格式（IPv6 写作 [::1]:80）</translation>
    </message>
    <message>
        <source>{text}: {host} in brackets is not an IPv6 address</source>
        <translation>{text}：方括号中的 {host} 不是 IPv6 地址</translation>
    </message>
    <message>
        <source>{text} is not HOST:PORT</source>
        <translation>{text} 不是 主机:端口 格式</translation>
    </message>
    <message>
        <source>{text}: {host} is not a host name or IPv4 address</source>
        <translation>{text}：{host} 不是主机名或 IPv4 地址</translation>
    </message>
    <message>
        <source>{text}: port {port} is not a number</source>
        <translation>{text}：端口 {port} 不是数字</translation>
    </message>
    <message>
        <source>{text}: port {port} is out of range {low}-65535</source>
        <translation>{text}：端口 {port} 超出范围 {low}-65535</translation>
    </message>
    <message>
        <source>{text} is not a SHA-256 fingerprint (64 hex digits, &apos;:&apos; allowed)</source>
        <translation>{text} 不是 SHA-256 指纹（64 个十六进制数字，可含 “:”）</translation>
    </message>
    <message>
        <source>header rule {rule}: a quote is not closed</source>
        <translation>请求头规则 {rule}：引号没有闭合</translation>
    </message>
    <message>
        <source>header rule {rule} is not {form} (quote values with spaces)</source>
        <translation>请求头规则 {rule} 不符合 {form}（含空格的值请加引号）</translation>
    </message>
    <message>
        <source>header rule {rule}: {name} is not a header name</source>
        <translation>请求头规则 {rule}：{name} 不是合法的头名称</translation>
    </message>
    <message>
        <source>header rule {rule}: the value contains a line break or NUL</source>
        <translation>请求头规则 {rule}：值中含有换行或 NUL 字符</translation>
    </message>
    <message>
        <source>header rule {rule}…: the name is longer than {n} bytes</source>
        <translation>请求头规则 {rule}…：名称超过 {n} 字节</translation>
    </message>
    <message>
        <source>header rule {rule}…: the value is longer than {n} bytes</source>
        <translation>请求头规则 {rule}…：值超过 {n} 字节</translation>
    </message>
    <message>
        <source>the header rule is empty</source>
        <translation>请求头规则为空</translation>
    </message>
    <message>
        <source>name at least one server</source>
        <translation>请至少填写一台服务器</translation>
    </message>
    <message>
        <source>{server} is listed twice</source>
        <translation>{server} 重复填写了</translation>
    </message>
    <message>
        <source>must not be empty</source>
        <translation>不能为空</translation>
    </message>
    <message>
        <source>at most {n} bytes</source>
        <translation>最多 {n} 字节</translation>
    </message>
    <message>
        <source>{name} is already the name of another mapping</source>
        <translation>{name} 已被另一个映射使用</translation>
    </message>
    <message>
        <source>{name} is already the name of another local proxy</source>
        <translation>{name} 已被另一个本地代理使用</translation>
    </message>
    <message>
        <source>{value} is not one of {allowed}</source>
        <translation>{value} 不是以下之一：{allowed}</translation>
    </message>
    <message>
        <source>a {mode} mapping forwards to a local HOST:PORT, e.g. 127.0.0.1:8080</source>
        <translation>{mode} 映射需转发到本机的 主机:端口，例如 127.0.0.1:8080</translation>
    </message>
    <message>
        <source>{domain} is not a domain name</source>
        <translation>{domain} 不是域名</translation>
    </message>
    <message>
        <source>domain {domain} is already routed to {mode} mapping {name}</source>
        <translation>域名 {domain} 已路由到 {mode} 映射 {name}</translation>
    </message>
    <message>
        <source>the catch-all (empty) domain is already routed to {mode} mapping {name}</source>
        <translation>通配（空）域名已路由到 {mode} 映射 {name}</translation>
    </message>
    <message>
        <source>only for tcp, http and https mappings</source>
        <translation>仅适用于 tcp、http 和 https 映射</translation>
    </message>
    <message>
        <source>only for https mappings (HTTP/2 is negotiated in TLS)</source>
        <translation>仅适用于 https 映射（HTTP/2 在 TLS 中协商）</translation>
    </message>
    <message>
        <source>only for proxy mappings</source>
        <translation>仅适用于 proxy 映射</translation>
    </message>
    <message>
        <source>a proxy mapping&apos;s credentials need both a username and a password</source>
        <translation>proxy 映射的凭据需要同时填写用户名和密码</translation>
    </message>
    <message>
        <source>only tcp and proxy mappings get a public port of their own</source>
        <translation>只有 tcp 和 proxy 映射可以拥有独立的公网端口</translation>
    </message>
    <message>
        <source>port {port} is out of range 1-65535</source>
        <translation>端口 {port} 超出范围 1-65535</translation>
    </message>
    <message>
        <source>port {port} is used by another mapping</source>
        <translation>端口 {port} 已被另一个映射使用</translation>
    </message>
    <message>
        <source>choose at least one of {allowed}</source>
        <translation>请至少选择以下之一：{allowed}</translation>
    </message>
    <message>
        <source>{value} is listed twice</source>
        <translation>{value} 重复出现</translation>
    </message>
    <message>
        <source>a password needs a username</source>
        <translation>设置密码需要先填写用户名</translation>
    </message>
    <message>
        <source>a certificate needs its key file too</source>
        <translation>证书还需要对应的私钥文件</translation>
    </message>
    <message>
        <source>a key needs its certificate file too</source>
        <translation>私钥还需要对应的证书文件</translation>
    </message>
    <message>
        <source>{have} is set, so {missing} is needed too</source>
        <translation>已设置 {have}，因此也需要 {missing}</translation>
    </message>
    <message>
        <source>{name} is not a host name</source>
        <translation>{name} 不是主机名</translation>
    </message>
    <message>
        <source>must be greater than 0, got {value}</source>
        <translation>必须大于 0，当前为 {value}</translation>
    </message>
    <message>
        <source>a name is required</source>
        <translation>名称不能为空</translation>
    </message>
    <message>
        <source>at most 255 bytes</source>
        <translation>最多 255 字节</translation>
    </message>
    <message>
        <source>no spaces at the start or end</source>
        <translation>开头和结尾不能有空格</translation>
    </message>
    <message>
        <source>{name} is already used</source>
        <translation>{name} 已被使用</translation>
    </message>
    <message>
        <source>choose one of {modes}</source>
        <translation>请选择以下之一：{modes}</translation>
    </message>
    <message>
        <source>a domain has no spaces</source>
        <translation>域名不能包含空格</translation>
    </message>
    <message>
        <source>port must be 1-65535</source>
        <translation>端口必须在 1-65535 之间</translation>
    </message>
    <message>
        <source>line {n}: {problem}</source>
        <translation>第 {n} 行：{problem}</translation>
    </message>
    <message>
        <source>{addr} is used by another listener</source>
        <translation>{addr} 已被另一个监听使用</translation>
    </message>
    <message>
        <source>choose at least one protocol</source>
        <translation>请至少选择一种协议</translation>
    </message>
</context>
<context>
    <name>models</name>
    <message>
        <source>Mapping / proxy</source>
        <translation>映射 / 代理</translation>
    </message>
    <message>
        <source>Peer</source>
        <translation>对端</translation>
    </message>
    <message>
        <source>Target</source>
        <translation>目标</translation>
    </message>
    <message>
        <source>Up</source>
        <translation>上行</translation>
    </message>
    <message>
        <source>Down</source>
        <translation>下行</translation>
    </message>
    <message>
        <source>Rate</source>
        <translation>速率</translation>
    </message>
    <message>
        <source>Age</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>Closed</source>
        <translation>关闭时间</translation>
    </message>
    <message>
        <source>Reason</source>
        <translation>原因</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>连接数</translation>
    </message>
    <message>
        <source>Username</source>
        <translation>用户名</translation>
    </message>
    <message>
        <source>Mappings</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>TLS</source>
        <translation>TLS</translation>
    </message>
    <message>
        <source>Connected</source>
        <translation>连接时长</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source>On</source>
        <translation>启用</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Mode</source>
        <translation>模式</translation>
    </message>
    <message>
        <source>Local address</source>
        <translation>本地地址</translation>
    </message>
    <message>
        <source>Domain</source>
        <translation>域名</translation>
    </message>
    <message>
        <source>Remote port</source>
        <translation>远程端口</translation>
    </message>
    <message>
        <source>Header rules</source>
        <translation>头部规则</translation>
    </message>
    <message>
        <source>Public address</source>
        <translation>公网地址</translation>
    </message>
    <message>
        <source>Server status</source>
        <translation>服务端状态</translation>
    </message>
    <message>
        <source>link down</source>
        <translation>链路断开</translation>
    </message>
    <message>
        <source>off</source>
        <translation>已关闭</translation>
    </message>
    <message>
        <source>open</source>
        <translation>已开启</translation>
    </message>
    <message>
        <source>failed: {reason}</source>
        <translation>失败：{reason}</translation>
    </message>
    <message>
        <source>Listen on</source>
        <translation>监听地址</translation>
    </message>
    <message>
        <source>Protocols</source>
        <translation>协议</translation>
    </message>
    <message>
        <source>Authentication</source>
        <translation>认证</translation>
    </message>
    <message>
        <source>user {name}</source>
        <translation>用户 {name}</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>mapping</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>proxy</source>
        <translation>代理</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>24 h up</source>
        <translation>24 小时上行</translation>
    </message>
    <message>
        <source>24 h down</source>
        <translation>24 小时下行</translation>
    </message>
    <message>
        <source>30 days</source>
        <translation>30 天</translation>
    </message>
    <message>
        <source>365 days</source>
        <translation>365 天</translation>
    </message>
    <message>
        <source>Connections (24 h)</source>
        <translation>连接数（24 小时）</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Mapping</source>
        <translation>映射</translation>
    </message>
    <message>
        <source>Method</source>
        <translation>方法</translation>
    </message>
    <message>
        <source>Path</source>
        <translation>路径</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>replay</source>
        <translation>重放</translation>
    </message>
    <message>
        <source>error</source>
        <translation>错误</translation>
    </message>
</context>
</TS>
