import{b as B,c as r,d as p,e as w,f as k,i as T,j as C,k as M,l as P,m as R,n as F,o as U,p as g,q as j,u as W}from"./shared-PZZQV7AT.js";function z({series:e,label:a,seconds:o}){let c=Math.max(2,...e.map(t=>t.points.length));return r`<figure class="chart">
        <svg viewBox=${"0 0 600 140"} role="img" aria-label=${a} preserveAspectRatio="none">
            <line x1="0" y1=${134} x2=${600} y2=${134} class="axis" />
            ${e.map(t=>{let m=Math.max(1,...t.points),$=c-t.points.length,n=t.points.map((d,f)=>`${((f+$)/(c-1)*600).toFixed(1)},${(134-d/m*128).toFixed(1)}`).join(" ");return r`<polyline class=${`line ${t.className}`} points=${n} fill="none" vector-effect="non-scaling-stroke" />`})}
        </svg>
        <figcaption>
            ${e.map(t=>r`<span class="legend"><span class=${`swatch ${t.className}`} aria-hidden="true"></span>${t.name}:
                    <strong>${D(t.points[t.points.length-1]??0)}</strong> <span class="muted">(peak ${D(Math.max(0,...t.points))})</span></span>`)}
            <span class="muted">last ${Math.round(o/60)} min</span>
        </figcaption>
    </figure>`}function D(e){return e>=100||Number.isInteger(e)?Math.round(e).toLocaleString():e.toFixed(1)}async function J(e,a,o){let l=await fetch(e,{headers:{Accept:"text/event-stream",Authorization:`Bearer ${C()?.token??""}`},signal:a});if(!l.ok||!l.body){let c="http_"+l.status,t=`Herald answered ${l.status}.`;try{let m=(await l.json()).error;c=m.code??c,t=m.message??t}catch{}throw new T(l.status,c,t)}let b=l.body.pipeThrough(new TextDecoderStream).getReader(),i="";for(;;){let{value:c,done:t}=await b.read();if(t)return;i+=c;let m;for(;(m=i.indexOf(`

`))>=0;){let $=i.slice(0,m);i=i.slice(m+2);let n=$.split(`
`).filter(d=>d.startsWith("data:")).map(d=>d.slice(5).replace(/^ /,"")).join(`
`);if(n)try{o(JSON.parse(n))}catch{}}}}var N=["connected","disconnected","invocation","send"],A=2e3;function q({hubs:e}){let[a,o]=p({hub:"",user:"",connection:"",types:[...N],payload:!1}),[l,b]=p(!1),[i,c]=p(!1),[t,m]=p([]),[$,n]=p(0),[d,f]=p(""),h=k([]),v=k(!1);v.current=i;let y=k(null);w(()=>()=>y.current?.abort(),[]);let O=()=>{y.current?.abort();let s=new AbortController;y.current=s;let u=new URLSearchParams;a.hub&&u.set("hub",a.hub),a.user.trim()&&u.set("user",a.user.trim()),a.connection.trim()&&u.set("connection",a.connection.trim()),a.types.length&&a.types.length<N.length&&u.set("type",a.types.join(",")),a.payload&&u.set("payload","true"),f(""),b(!0),J(`/api/admin/trace?${u}`,s.signal,S=>{let I=S;v.current?(h.current.push(I),h.current.length>A&&h.current.shift(),n(h.current.length)):m(_=>[..._,I].slice(-A))}).catch(S=>{S.name!=="AbortError"&&f(S.message)}).finally(()=>{y.current===s&&b(!1)})},H=()=>{y.current?.abort(),y.current=null,b(!1)},G=()=>{if(i){let s=h.current;h.current=[],n(0),m(u=>[...u,...s].slice(-A))}c(!i)},K=()=>{let s=new Blob([t.map(S=>JSON.stringify(S)).join(`
`)+`
`],{type:"application/x-ndjson"}),u=document.createElement("a");u.href=URL.createObjectURL(s),u.download=`herald-trace-${new Date().toISOString().replace(/[:.]/g,"-")}.jsonl`,document.body.append(u),u.click(),u.remove(),setTimeout(()=>URL.revokeObjectURL(u.href),6e4)},E=(s,u)=>o({...a,[s]:u});return r`<section class="card trace" aria-labelledby="trace-title">
        <h2 id="trace-title">Live trace</h2>
        <p class="muted small">Connection and message events across the cluster as they happen. Tracing costs nothing while nobody watches. Payloads are left out unless asked.</p>
        <form class="trace-filters" onSubmit=${s=>{s.preventDefault(),O()}}>
            <div class="field">
                <label for="t-hub">Hub</label>
                <select id="t-hub" value=${a.hub} onChange=${s=>E("hub",s.target.value)}>
                    <option value="">Every hub</option>
                    ${e.map(s=>r`<option value=${s}>${s}</option>`)}
                </select>
            </div>
            <div class="field">
                <label for="t-user">User</label>
                <input id="t-user" value=${a.user} placeholder="Any user" onInput=${s=>E("user",s.target.value)} />
            </div>
            <div class="field">
                <label for="t-conn">Connection</label>
                <input id="t-conn" value=${a.connection} placeholder="Any connection" onInput=${s=>E("connection",s.target.value)} />
            </div>
            <fieldset class="types">
                <legend>Events</legend>
                ${N.map(s=>r`<label><input type="checkbox" checked=${a.types.includes(s)}
                        onChange=${u=>E("types",u.target.checked?[...a.types,s]:a.types.filter(S=>S!==s))} />${s}</label>`)}
            </fieldset>
            <div class="field check">
                <label><input type="checkbox" checked=${a.payload} onChange=${s=>E("payload",s.target.checked)} />Show payloads</label>
            </div>
            <div class="actions">
                <button class="primary" type="submit" data-testid="trace-start">${l?"Apply filters":"Start tracing"}</button>
                ${l&&r`<button type="button" class="secondary" onClick=${H}>Stop</button>`}
                <button type="button" class="secondary" onClick=${G} aria-pressed=${i} disabled=${!l&&!i}>${i?`Resume${$?` (${$} waiting)`:""}`:"Pause"}</button>
                <button type="button" class="secondary" onClick=${()=>m([])} disabled=${!t.length}>Clear</button>
                <button type="button" class="secondary" onClick=${K} disabled=${!t.length}>Export JSON Lines</button>
                <span class="muted small" role="status">${l?i?"Paused":"Tracing\u2026":"Stopped"} · ${t.length} events</span>
            </div>
        </form>
        ${d&&r`<p class="error-text" role="alert">${d}</p>`}
        <div class="table-wrap">
            <table class="events" data-testid="trace-events">
                <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Hub</th><th scope="col">User</th><th scope="col">Connection</th><th scope="col">Detail</th></tr></thead>
                <tbody>
                    ${t.length===0&&r`<tr><td colspan="6" class="muted">${l?"Waiting for events\u2026":"Start tracing to see events."}</td></tr>`}
                    ${t.slice(-300).reverse().map((s,u)=>r`<tr key=${t.length-u} data-type=${s.type} data-testid="trace-event">
                        <td><time datetime=${s.time}>${s.time?.slice(11,23)}</time></td>
                        <td><span class=${`ev ev-${s.type}`}>${s.type}</span></td>
                        <td>${s.hub}</td>
                        <td>${s.user??(s.scope==="user"?s.to:"")}</td>
                        <td class="mono">${s.connection}</td>
                        <td>${Q(s)}</td>
                    </tr>`)}
                </tbody>
            </table>
        </div>
    </section>`}function Q(e){switch(e.type){case"connected":return[e.transport,e.protocol,e.node&&`node ${e.node.slice(0,8)}`].filter(Boolean).join(" \xB7 ");case"disconnected":return[e.reason||"closed",e.transport].filter(Boolean).join(" \xB7 ");case"invocation":return[e.target,e.size!==void 0&&`${e.size} B`,e.payload!==void 0&&JSON.stringify(e.payload)].filter(Boolean).join(" \xB7 ");case"send":return[e.target,e.scope&&`to ${e.scope}${e.to?` ${e.to}`:""}`,e.size!==void 0&&`${e.size} B`,e.payload!==void 0&&JSON.stringify(e.payload)].filter(Boolean).join(" \xB7 ");case"dropped":return`${e.count??"some"} events dropped (the trace could not keep up)`;default:return""}}var Y=2e3,L=150;function V(){let[e,a]=p(()=>U()??C()),[o,l]=p(null),[b,i]=p("");w(()=>{F().then(l,t=>i(t.message)),P(t=>{M(),a(null),i(`You were signed out: ${t.message}`)})},[]);let c=()=>{M(),a(null),i("")};return e?e.roles.includes("admin")?r`<${X} session=${e} onSignOut=${c} />`:r`<main id="main" class="login"><div class="card login-card">
            <h1>Operators only</h1>
            <p>This page is for operators: ${e.user} does not have the <code>admin</code> role.</p>
            <p class="actions"><a class="button secondary" href="/">Go to your tasks</a><button type="button" class="secondary" onClick=${c}>Sign in as someone else</button></p>
        </div></main>`:r`<${W} admin config=${o} message=${b} onSignedIn=${t=>{i(""),a(t)}} />`}function X({session:e,onSignOut:a}){let[o,l]=p(null),[b,i]=p(""),c=k({connections:[],sends:[],running:[]});w(()=>{let n=!1,d,f=async()=>{try{let h=await R("/api/admin/stats");if(n)return;let v=c.current,y=Object.values(h.hubs).reduce((O,H)=>O+H.connections,0);v.connections=[...v.connections,y].slice(-L),v.sends=[...v.sends,h.sends.perSecond].slice(-L),v.running=[...v.running,h.tasks.running??0].slice(-L),l(h),i("")}catch(h){n||i(h instanceof T?h.message:String(h))}n||(d=setTimeout(f,Y))};return f(),()=>{n=!0,clearTimeout(d)}},[]);let t=o?Object.keys(o.hubs).sort():[],m=o?Object.values(o.hubs).reduce((n,d)=>n+d.connections,0):0,$=c.current;return r`
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
            <span class="brand"><span class="logo" aria-hidden="true"></span><span class="brand-name">Herald · </span>Operators</span>
            <span class="spacer"></span>
            <a href="/">Your tasks</a>
            <span class="user" data-testid="user">${e.user}</span>
            <button type="button" class="link-button" onClick=${a}>Sign out<span class="sr-only"> ${e.user}</span></button>
        </header>
        <main id="main" class="content wide">
            ${b&&r`<p class="error-text" role="alert">${b}</p>`}
            <section aria-label="Live counts" class="tiles" data-testid="counts">
                <${x} label="Connections" value=${g(m)} testid="connections" />
                <${x} label="Users online" value=${g(o?.usersOnline??0)} testid="users-online" />
                <${x} label="Tasks running" value=${g(o?.tasks.running??0)} sub=${`${g(o?.tasks.queued??0)} queued`} testid="running" />
                <${x} label="Sends per second" value=${(o?.sends.perSecond??0).toFixed(1)} sub=${`${g(o?.sends.total??0)} in all`} testid="sends" />
                <${x} label="Nodes" value=${g(o?.nodes.length??0)} testid="nodes" />
            </section>
            <section class="card" aria-labelledby="chart-title">
                <h2 id="chart-title">The last minutes</h2>
                <${z} label="Connections, sends per second and running tasks over the last minutes" seconds=${L*Y/1e3}
                    series=${[{name:"Connections",className:"s1",points:$.connections},{name:"Sends/s",className:"s2",points:$.sends},{name:"Running tasks",className:"s3",points:$.running}]} />
            </section>
            <div class="two-col">
                <section class="card" aria-labelledby="nodes-title">
                    <h2 id="nodes-title">Connections per hub and node</h2>
                    <div class="table-wrap"><table>
                        <thead><tr><th scope="col">Node</th>${t.map(n=>r`<th scope="col" class="num">${n}</th>`)}</tr></thead>
                        <tbody>
                            ${o?.nodes.map(n=>r`<tr><td class="mono">${n.id.slice(0,12)}</td>${t.map(d=>r`<td class="num">${g(n.connections[d]??0)}</td>`)}</tr>`)}
                            <tr class="total"><th scope="row">All</th>${t.map(n=>r`<td class="num">${g(o.hubs[n].connections)} <span class="muted small">(${g(o.hubs[n].users)} ${o.hubs[n].users===1?"user":"users"})</span></td>`)}</tr>
                        </tbody>
                    </table></div>
                </section>
                <section class="card" aria-labelledby="tasks-title">
                    <h2 id="tasks-title">Tasks by state</h2>
                    <dl class="states">
                        ${["queued","running","succeeded","failed","cancelled"].map(n=>r`<div><dt>${n}</dt><dd>${g(o?.tasks[n]??0)}</dd></div>`)}
                    </dl>
                </section>
            </div>
            <section class="card" aria-labelledby="exports-title">
                <h2 id="exports-title">Exports running</h2>
                ${o?.exports.length?r`<div class="table-wrap"><table>
                          <thead><tr><th scope="col">User</th><th scope="col">Dataset</th><th scope="col">Format</th><th scope="col" class="num">Rows</th><th scope="col" class="num">Written</th><th scope="col" class="num">Rows/s</th><th scope="col" class="num">Throughput</th></tr></thead>
                          <tbody>${o.exports.map(n=>r`<tr key=${n.id}>
                              <td>${n.user}</td><td>${n.dataset}</td><td>${n.format}</td><td class="num">${g(n.rows)}</td><td class="num">${j(n.bytes)}</td>
                              <td class="num">${g(Math.round(n.rowsPerSecond))}</td><td class="num">${j(n.bytesPerSecond)}/s</td></tr>`)}</tbody>
                      </table></div>`:r`<p class="muted">None right now.</p>`}
            </section>
            <${Z} />
            <${q} hubs=${t.length?t:["notifications"]} />
        </main>
    `}function x({label:e,value:a,sub:o,testid:l}){return r`<div class="tile card" data-testid=${l}><span class="muted small">${e}</span><strong>${a}</strong>${o&&r`<span class="muted small">${o}</span>`}</div>`}function Z(){let[e,a]=p(""),[o,l]=p("info"),[b,i]=p(""),[c,t]=p(""),[m,$]=p(!1);return r`<section class="card" aria-labelledby="broadcast-title">
        <h2 id="broadcast-title">Announce</h2>
        <form class="broadcast" onSubmit=${async d=>{d.preventDefault(),$(!0),t(""),i("");try{await R("/api/admin/announcements",{body:{message:e.trim(),level:o}}),i("Sent to every open page."),a("")}catch(f){t(f instanceof T?f.message:String(f))}finally{$(!1)}}} novalidate>
            <div class="field grow">
                <label for="b-message">Message to every open page</label>
                <input id="b-message" value=${e} maxlength="4096" placeholder="Maintenance at 18:00 UTC" aria-invalid=${!!c} aria-describedby=${c?"b-error":void 0}
                    onInput=${d=>a(d.target.value)} />
            </div>
            <div class="field">
                <label for="b-level">Level</label>
                <select id="b-level" value=${o} onChange=${d=>l(d.target.value)}>
                    <option value="info">Info</option>
                    <option value="warning">Warning</option>
                </select>
            </div>
            <button class="primary" type="submit" disabled=${m||!e.trim()}>Send</button>
        </form>
        ${c&&r`<p class="field-error" id="b-error" role="alert">${c}</p>`}
        <p class="muted small" role="status">${b}</p>
    </section>`}B(r`<${V} />`,document.getElementById("root"));
