import { Annotations, CfnResource, ITaggable, RemovalPolicy, Stack, TagManager, TagType } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * Props of a TaggableCustomResource: everything it needs when made, so that making one is one
 * message from the host language and synth none.
 */
export interface TaggableCustomResourceProps {
  /** The CloudFormation type, e.g. `Custom::IvsRealtimeStage`. */
  readonly type: string;

  /** The resource's properties (`ServiceToken` among them), rendered as given. */
  readonly properties: { [key: string]: any };

  /**
   * The property the rendered tags go in, as CloudFormation's `[{Key, Value}]` list.
   * @default "tags"
   */
  readonly tagsProperty?: string;

  /**
   * The tags the resource starts with (`Tags.of` adds to them). Any values: the host language
   * checks them, with its own messages, at synth.
   * @default - none
   */
  readonly initialTags?: { [key: string]: any };

  /**
   * The removal policy, applied as `CfnResource.applyRemovalPolicy` applies it.
   * @default - CloudFormation's default (the resource is deleted)
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Warnings to add to the resource (`Annotations.addWarningV2`), id -> message.
   * @default - none
   */
  readonly warnings?: { [id: string]: string };

  /**
   * Properties many resources share and that may be set after they are made (a stack's
   * reconcile value): rendered after `properties`.
   * @default - none
   */
  readonly shared?: SharedProperties;
}

/**
 * Properties shared by many resources, settable until synth: one message sets a value for all,
 * where a value per resource read at synth would be a call into the host language each.
 */
export class SharedProperties {
  private readonly values: { [key: string]: any } = {};

  /** Render `value` as property `key` of every resource sharing this. */
  public set(key: string, value: any): void {
    this.values[key] = value;
  }

  /** The properties set so far. */
  public render(): { [key: string]: any } {
    return { ...this.values };
  }
}

/**
 * A CfnResource whose TagManager and properties live in JavaScript: `Tags.of()` and synth read
 * them without a call into the host language, which a class written there would need (jsii calls
 * back for each read of an overridden member: four per resource).
 */
export class TaggableCustomResource extends CfnResource implements ITaggable {
  /**
   * The tags each resource renders, as the template will have them (resolved): one message for a
   * stack's resources, where reading each resource's tags would be one or two each.
   */
  public static resolvedTagsOf(resources: TaggableCustomResource[]): any[] {
    return resources.map((resource) => Stack.of(resource).resolve(resource.tags.renderTags()) ?? []);
  }

  /** The resource's tags; `Tags.of(scope)` on any scope above it adds to them. */
  public readonly tags: TagManager;

  private readonly givenProperties: { [key: string]: any };
  private readonly tagsProperty: string;
  private readonly shared?: SharedProperties;

  constructor(scope: Construct, id: string, props: TaggableCustomResourceProps) {
    super(scope, id, { type: props.type });
    this.tags = new TagManager(TagType.KEY_VALUE, props.type, props.initialTags);
    this.givenProperties = props.properties;
    this.tagsProperty = props.tagsProperty ?? 'tags';
    this.shared = props.shared;
    if (props.removalPolicy !== undefined) {
      // CfnResource's own, not an override a host-language subclass may have: no call back into it.
      CfnResource.prototype.applyRemovalPolicy.call(this, props.removalPolicy);
    }
    for (const [warningId, message] of Object.entries(props.warnings ?? {})) {
      Annotations.of(this).addWarningV2(warningId, message);
    }
  }

  protected get cfnProperties(): { [key: string]: any } {
    return { ...this.givenProperties, ...this.shared?.render(), [this.tagsProperty]: this.tags.renderTags() };
  }
}
