import { describe, expect, test } from 'bun:test'
import { dirname, join, relative, resolve } from 'node:path'
import { parse } from '@cdktf/hcl2json'
import { Glob } from 'bun'

/**
 * terraform/ parsed as HCL (no AWS account or provider download needed): the variables and outputs the
 * deployment promises, the wiring between modules, and a closed-by-default security group.
 */
const repoRoot = resolve(import.meta.dir, '../../..')
const tfRoot = join(repoRoot, 'terraform')

// hcl2json's shape: every block is a list of bodies; expressions come back as "${…}" strings.
type Body = Record<string, unknown>
type Blocks = Record<string, Body[]>
interface Module {
  dir: string
  variable: Blocks
  output: Blocks
  module: Blocks
  resource: Record<string, Blocks>
  data: Record<string, Blocks>
  locals: Body
  text: string
}

async function loadModule(dir: string): Promise<Module> {
  const module: Module = { dir, variable: {}, output: {}, module: {}, resource: {}, data: {}, locals: {}, text: '' }
  for (const file of [...new Glob('*.tf').scanSync(dir)].sort()) {
    const text = await Bun.file(join(dir, file)).text()
    const parsed = (await parse(file, text)) as {
      variable?: Blocks
      output?: Blocks
      module?: Blocks
      resource?: Record<string, Blocks>
      data?: Record<string, Blocks>
      locals?: Body[]
    }
    Object.assign(module.variable, parsed.variable)
    Object.assign(module.output, parsed.output)
    Object.assign(module.module, parsed.module)
    for (const [type, resources] of Object.entries(parsed.resource ?? {})) module.resource[type] = { ...module.resource[type], ...resources }
    for (const [type, sources] of Object.entries(parsed.data ?? {})) module.data[type] = { ...module.data[type], ...sources }
    for (const locals of parsed.locals ?? []) Object.assign(module.locals, locals)
    module.text += text
  }
  return module
}

const root = await loadModule(tfRoot)
const moduleDirs = [...new Glob('modules/*/main.tf').scanSync(tfRoot)].map((file) => join(tfRoot, dirname(file)))
const modules = new Map(await Promise.all(moduleDirs.map(async (dir) => [dir, await loadModule(dir)] as const)))

const body = (blocks: Blocks, name: string): Body => {
  const found = blocks[name]?.[0]
  if (!found) throw new Error(`no block named "${name}"`)
  return found
}
const calledModule = (name: string): Module => {
  const source = body(root.module, name).source as string
  const found = modules.get(resolve(tfRoot, source))
  if (!found) throw new Error(`module "${name}" has source ${source}, which is not a module under terraform/modules`)
  return found
}
const network = calledModule('network')
const host = calledModule('host')
const resource = (module: Module, type: string, name: string): Body => body(module.resource[type] ?? {}, name)
const dataSource = (module: Module, type: string, name: string): Body => body(module.data[type] ?? {}, name)
interface Filter {
  name: string
  values: unknown
}
interface Condition {
  condition: string
  error_message: string
}
const conditions = (block: Body, kind: 'precondition' | 'postcondition'): Condition[] =>
  ((block.lifecycle as Body[] | undefined) ?? []).flatMap((lifecycle) => (lifecycle[kind] as Condition[] | undefined) ?? [])

describe('parsing', () => {
  test('every .tf file under terraform/ parses as HCL', async () => {
    const files = [...new Glob('**/*.tf').scanSync(tfRoot)]
    expect(files.length).toBeGreaterThanOrEqual(7)
    for (const file of files) expect(await parse(file, await Bun.file(join(tfRoot, file)).text())).toBeObject()
  })

  test('the parser rejects malformed HCL, so passing files really are well-formed', async () => {
    await expect(parse('broken.tf', 'variable "region" {\n  default = "us-east-1"\n')).rejects.toThrow(/Unclosed configuration block/)
  })

  test('terraform.tfvars.example parses and sets only declared variables', async () => {
    const example = (await parse('terraform.tfvars', await Bun.file(join(tfRoot, 'terraform.tfvars.example')).text())) as Body
    expect(Object.keys(example).length).toBeGreaterThan(0)
    for (const name of Object.keys(example)) expect(Object.keys(root.variable)).toContain(name)
  })
})

describe('root variables', () => {
  test('declares region, instance_type, key_name and allowed_cidrs, each described', () => {
    for (const name of ['region', 'instance_type', 'key_name', 'allowed_cidrs']) {
      expect(body(root.variable, name).description).toBeString()
    }
  })

  test('allowed_cidrs is a list of CIDRs that defaults to empty: closed until someone opens it', () => {
    const allowed = body(root.variable, 'allowed_cidrs')
    expect(allowed.type).toBe('${list(string)}')
    expect(allowed.default).toEqual([])
    expect(JSON.stringify(allowed.validation)).toContain('cidrhost')
  })

  test('no variable defaults to a CIDR open to the whole internet', () => {
    expect(JSON.stringify(root.variable)).not.toContain('0.0.0.0/0')
    expect(JSON.stringify(root.variable)).not.toContain('::/0')
  })

  test('key_name is optional', () => {
    expect(body(root.variable, 'key_name')).toHaveProperty('default', null)
  })
})

describe('outputs', () => {
  test('gives the gRPC and HTTP endpoints on the documented ports', () => {
    expect(body(root.output, 'grpc_endpoint').value).toMatch(/^\$\{module\.host\.public_ip\}:\$\{local\.ports\.grpc\}$/)
    expect(body(root.output, 'http_endpoint').value).toMatch(/^http:\/\/\$\{module\.host\.public_ip\}:\$\{local\.ports\.http\}$/)
    expect(root.text).toMatch(/grpc\s*=\s*50051/)
    expect(root.text).toMatch(/http\s*=\s*8080/)
    // The shippers' ports (OTLP/gRPC, the HTTP intake) open to the same allowed networks.
    expect(root.text).toMatch(/otlp_grpc\s*=\s*4317/)
    expect(root.text).toMatch(/intake_http\s*=\s*4318/)
  })

  test('also gives the health URL, SSH command, address and instance', () => {
    for (const name of ['health_url', 'ssh_command', 'public_ip', 'instance_id', 'security_group_id']) expect(body(root.output, name).value).toBeString()
  })

  test('every module output the root refers to is declared by that module', () => {
    const references = [...root.text.matchAll(/module\.([a-z_]+)\.([a-z_]+)/g)]
    expect(references.length).toBeGreaterThan(0)
    for (const [, name, output] of references) expect(Object.keys(calledModule(name!).output)).toContain(output!)
  })
})

describe('modules', () => {
  test('the root calls a network module and a compose-host module from terraform/modules', () => {
    expect(relative(tfRoot, network.dir)).toBe('modules/network')
    expect(relative(tfRoot, host.dir)).toBe('modules/compose-host')
  })

  test('each module call passes only variables the module declares, and every one it requires', () => {
    for (const name of Object.keys(root.module)) {
      const module = calledModule(name)
      const passed = Object.keys(body(root.module, name)).filter((key) => key !== 'source')
      for (const argument of passed) expect(Object.keys(module.variable)).toContain(argument)
      const required = Object.entries(module.variable)
        .filter(([, [declaration]]) => declaration && !('default' in declaration))
        .map(([variable]) => variable)
      for (const variable of required) expect(passed).toContain(variable)
    }
  })

  test('every var.* a module uses is declared in that module', () => {
    for (const module of [root, ...modules.values()]) {
      for (const [, variable] of module.text.matchAll(/\bvar\.([a-z0-9_]+)/g)) expect(Object.keys(module.variable)).toContain(variable!)
    }
  })

  test('every module variable is described', () => {
    for (const module of [root, ...modules.values()]) {
      for (const [name, [declaration]] of Object.entries(module.variable)) expect([name, declaration?.description]).toEqual([name, expect.any(String)])
    }
  })
})

describe('subnet', () => {
  const offerings = dataSource(root, 'aws_ec2_instance_type_offerings', 'host')
  const defaults = dataSource(root, 'aws_subnets', 'default')
  const subnet = dataSource(root, 'aws_subnet', 'host')
  const offered = 'data.aws_ec2_instance_type_offerings.host.locations'

  test('asks which availability zones offer the instance type', () => {
    expect(offerings.location_type).toBe('availability-zone')
    expect(offerings.filter).toEqual([{ name: 'instance-type', values: ['${var.instance_type}'] }])
  })

  test('takes only default subnets of the default VPC in those zones', () => {
    const filters = defaults.filter as Filter[]
    expect(filters).toContainEqual({ name: 'default-for-az', values: ['true'] })
    expect(filters).toContainEqual({ name: 'availability-zone', values: `\${${offered}}` })
    expect(defaults.count).toBe('${var.subnet_id == null ? 1 : 0}')
  })

  test('never takes the first of all default subnets, whatever their zone (us-east-1e offers no t3)', () => {
    expect(root.text).not.toMatch(/sort\(data\.aws_subnets\.default\[0\]\.ids\)\[0\]/)
    expect(subnet.id).toBe('${local.host_subnet_id}')
    const chosen = root.locals.host_subnet_id as string
    expect(chosen).toStartWith('${var.subnet_id != null ? var.subnet_id : ')
    expect(root.locals.candidate_subnet_ids).toContain('data.aws_subnets.default[0].ids')
  })

  test('says clearly when no zone or no default subnet fits, before anything is created', () => {
    const [noZone] = conditions(defaults, 'precondition')
    expect(noZone?.condition).toBe(`\${length(${offered}) > 0}`)
    expect(noZone?.error_message).toContain('${var.instance_type}')
    const [noSubnet] = conditions(subnet, 'precondition')
    expect(noSubnet?.condition).toBe('${local.host_subnet_id != null}')
    expect(noSubnet?.error_message).toContain('${var.instance_type}')
    expect(noSubnet?.error_message).toContain('subnet_id')
  })

  test('checks an explicit subnet_id against the same zones', () => {
    const [zone] = conditions(subnet, 'postcondition')
    expect(zone?.condition).toBe(`\${contains(${offered}, self.availability_zone)}`)
    expect(zone?.error_message).toContain('${var.instance_type}')
  })

  test('the host goes into that subnet', () => {
    expect(body(root.module, 'host').subnet_id).toBe('${data.aws_subnet.host.id}')
    expect(body(root.module, 'network').vpc_id).toBe('${data.aws_subnet.host.vpc_id}')
  })
})

describe('security group', () => {
  test('admits each port only from allowed_cidrs, which the root passes through unchanged', () => {
    expect(body(root.module, 'network').allowed_cidrs).toBe('${var.allowed_cidrs}')
    expect(body(root.module, 'network').ports).toBe('${local.ports}')
    expect(network.text).toMatch(/setproduct\(keys\(var\.ports\), var\.allowed_cidrs\)/)
    const rule = resource(network, 'aws_vpc_security_group_ingress_rule', 'allowed')
    expect(rule.for_each).toBe('${local.ingress}')
    expect(rule.from_port).toBe('${each.value.port}')
    expect(rule.to_port).toBe('${each.value.port}')
  })

  test('opens no ingress to the whole internet', () => {
    const ingress = JSON.stringify(network.resource.aws_vpc_security_group_ingress_rule)
    expect(ingress).not.toContain('0.0.0.0/0')
    expect(ingress).not.toContain('::/0')
    expect(JSON.stringify(network.resource.aws_security_group)).not.toContain('ingress')
  })
})

describe('compose host', () => {
  const instance = resource(host, 'aws_instance', 'host')
  const template = join(host.dir, 'user-data.sh.tftpl')

  test("runs the repository's docker-compose.yml", async () => {
    expect(body(root.module, 'host').compose_file).toBe('${file("${path.module}/../docker-compose.yml")}')
    expect(await Bun.file(join(repoRoot, 'docker-compose.yml')).exists()).toBe(true)
  })

  test('boots with user data that installs Docker with compose and starts the stack', async () => {
    expect(instance.user_data_base64).toContain('templatefile("${path.module}/user-data.sh.tftpl"')
    const script = await Bun.file(template).text()
    expect(script).toStartWith('#!/bin/bash')
    expect(script).toContain('apt-get install -y docker.io docker-compose-v2')
    expect(script).toMatch(/docker compose --project-directory "\$app" up -d/)
  })

  test('generates the database password on the host, never in Terraform', async () => {
    const script = await Bun.file(template).text()
    expect(script).toContain('POSTGRES_PASSWORD=$(openssl rand')
    expect(JSON.stringify([root, ...modules.values()].map((module) => module.resource))).not.toMatch(/password/i)
  })

  test('the generated .env requires API keys', async () => {
    const script = await Bun.file(template).text()
    const env = script.slice(script.indexOf('cat > "$app/.env" <<ENV'), script.indexOf('\nENV\n'))
    expect(env.split('\n')).toContain('LOGSTREAM_AUTH=required')
    expect(env).not.toContain('LOGSTREAM_ALLOW_OPEN')
  })

  test('the first admin key stays on the host: never in the bootstrap log, an output or Terraform state', async () => {
    const script = await Bun.file(template).text()
    // The log is everything the script prints (exec > >(tee …)); the key is made by compose's init, which
    // writes it to a root-only file and prints only where it is.
    expect(script).toContain('tee -a /var/log/logstream-bootstrap.log')
    expect(script).not.toContain('keys create')
    expect(script).toContain('install -d -m 0700 "$app/secrets"')
    const mentions = script.split('\n').filter((line) => line.includes('admin-key'))
    expect(mentions.length).toBeGreaterThan(0)
    // Only `[ -s file ]` and messages mention the file; nothing reads it (cat, <, $(…)) into the log.
    for (const line of mentions) expect(line.trim()).toMatch(/^(#|if \[ -s "\$app\/secrets\/admin-key" \]; then$|echo ")/)
    for (const line of mentions.filter((item) => item.trim().startsWith('echo'))) expect(line).not.toMatch(/\$\(|`/)
    const output = body(root.output, 'admin_key_file')
    expect(output.value).toBe('/opt/logstream/secrets/admin-key')
    expect(script).toContain('app=/opt/logstream\n')
    // No way to read a file on the host back into Terraform.
    const everything = [root, ...modules.values()].map((module) => module.text).join('\n')
    for (const reader of ['remote-exec', 'local_file', 'data "external"', 'file("/opt', 'aws_ssm_parameter', 'aws_secretsmanager'])
      expect(everything).not.toContain(reader)
    // The output is the path, a literal: nothing is read to produce it.
    expect(output.value).not.toContain('${')
    expect(JSON.stringify(output)).not.toContain('sensitive')
  })

  test('passes the template every variable it uses', async () => {
    const script = await Bun.file(template).text()
    const used = new Set([...script.matchAll(/\$\{([a-z_0-9]+)\}|%\{ if ([a-z_0-9]+)/g)].map((match) => match[1] ?? match[2]))
    const given = new Set([...(instance.user_data_base64 as string).matchAll(/([a-z_0-9]+)\s*=/g)].map((match) => match[1]))
    expect(used.size).toBeGreaterThan(0)
    for (const name of used) expect(given).toContain(name)
  })

  test('encrypts the root volume that holds Kafka and PostgreSQL data, and requires IMDSv2', () => {
    expect(instance.root_block_device).toEqual([expect.objectContaining({ encrypted: true, volume_type: 'gp3' })])
    expect(instance.metadata_options).toEqual([expect.objectContaining({ http_tokens: 'required' })])
  })

  test('gets a stable public address', () => {
    expect(resource(host, 'aws_eip', 'host').instance).toBe('${aws_instance.host.id}')
    expect(body(host.output, 'public_ip').value).toBe('${aws_eip.host.public_ip}')
  })
})
